import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { Logger } from '../../../src/fd/logger.js';
import type { AgentConfig } from '../../../src/protocols/websocks/agent-config.js';
import { expandServerCommand } from '../../../src/protocols/websocks/server-entry.js';
import { type CdnSettings, entryKey } from '../../../src/websocks/agent-routing.js';

/** A free loopback port in 30000-39999 (the reference's range), checked by binding it. */
async function freeLocalPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 30_000 + Math.floor(Math.random() * 10_000);
    const ok = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error('no free local port in 30000-39999 for a server program');
}

/**
 * §4.3's external programs: text after a server entry's address is a
 * command (a local relay, e.g. a kcptun client) run with `~`, `$SERVER_IP`,
 * `$SERVER_PORT` and `$LOCAL_PORT` substituted; the entry is then dialled
 * at 127.0.0.1:$LOCAL_PORT while SNI and Host keep its name. Output is
 * forwarded; an exit is logged (not restarted, as the reference). Returns the
 * dial overrides, merged into the CDN settings, and a stop function.
 */
export async function startServerPrograms(
  config: AgentConfig,
  home: string,
  cdn: ReadonlyMap<string, CdnSettings>,
  logger: Logger,
): Promise<{ cdn: Map<string, CdnSettings>; stop: () => void }> {
  const merged = new Map(cdn);
  const children: ChildProcess[] = [];
  for (const list of config.serverLists) {
    for (const entry of list.servers) {
      if (entry.command === null) continue;
      const port = await freeLocalPort();
      const command = expandServerCommand(entry, home, port) as string;
      // Its own process group, so stopping it stops what the shell started too.
      const child = spawn('/bin/sh', ['-c', command], {
        stdio: ['ignore', 'inherit', 'inherit'],
        detached: true,
      });
      children.push(child);
      const key = entryKey(entry);
      logger.info('server-program-started', { server: key, localPort: port, pid: child.pid });
      child.on('exit', (code, signal) =>
        logger.warn('server-program-exited', { server: key, code, signal }),
      );
      merged.set(key, { ...merged.get(key), dial: `127.0.0.1:${port}` });
    }
  }
  return {
    cdn: merged,
    stop: () => {
      for (const c of children) {
        if (c.exitCode !== null || c.pid === undefined) continue;
        try {
          process.kill(-c.pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
    },
  };
}
