import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { createLogger, parseLogFormat, parseLogLevel } from '../../../src/fd/logger.js';
import { expandHome } from '../../../src/protocols/websocks/config-values.js';
import { WebsocksAgent } from '../../../src/websocks/agent.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { stopOnSignal } from '../stop-on-signal.js';
import type { WebsocksAgentFlags } from './command.js';
import { loadAgentConfigText } from './config-file.js';
import { startAgentControllers } from './controllers.js';
import { startServerPrograms } from './server-programs.js';

function parseUsers(text: string): Map<string, string> {
  const users = new Map<string, string>();
  for (const pair of text.split(',').filter((p) => p.length > 0)) {
    const colon = pair.indexOf(':');
    if (colon <= 0) throw new Error(`--users: ${JSON.stringify(pair)} is not user:pass`);
    users.set(pair.slice(0, colon), pair.slice(colon + 1));
  }
  return users;
}

/** Load the config, start every listener, print one line each, stop on SIGINT / SIGTERM. */
export async function startWebsocksAgent(path: string, flags: WebsocksAgentFlags): Promise<void> {
  const logger = createLogger({
    threshold: parseLogLevel(flags.logLevel ?? process.env.VPROXY_LOG ?? 'info'),
    format: parseLogFormat(flags.logFormat ?? 'text'),
  });
  const home = homedir();
  const file = expandHome(path, home);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the agent config ${file}: ${(err as Error).message}`);
  }
  const loaded = loadAgentConfigText(text, { home, json: file.endsWith('.json') });
  const signals = stopOnSignal();
  const users = flags.users !== undefined ? parseUsers(flags.users) : loaded.users;
  const programs = await startServerPrograms(loaded.config, home, loaded.cdn, logger);
  process.once('exit', programs.stop);
  const registry = createDefaultRegistry(logger);
  const agent = await WebsocksAgent.start({
    config: loaded.config,
    registry,
    logger,
    abpFiles: loaded.abpFiles,
    otherwise: loaded.otherwise,
    cdn: programs.cdn,
    users,
    healthCheck: {
      ...(loaded.healthPeriodMs === undefined ? {} : { periodMs: loaded.healthPeriodMs }),
      ...(loaded.healthTimeoutMs === undefined ? {} : { timeoutMs: loaded.healthTimeoutMs }),
    },
    ...(loaded.pingTimeoutMs === undefined ? {} : { pingTimeoutMs: loaded.pingTimeoutMs }),
    ...(loaded.pongIntervalMs === undefined ? {} : { pongIntervalMs: loaded.pongIntervalMs }),
    ...(loaded.ssMethod === undefined ? {} : { ssMethod: loaded.ssMethod }),
    earlyReply: loaded.earlyReply,
  });
  if (loaded.config.ssListen !== null && (loaded.ssMethod ?? 'aes-256-cfb') === 'aes-256-cfb') {
    // The reference's cipher, kept for old clients: it has no integrity check.
    logger.warn('shadowsocks-weak-cipher', {
      method: 'aes-256-cfb',
      hint: 'set agent.ss.method chacha20-ietf-poly1305 (or aes-256-gcm) and update the clients',
    });
  }
  if (!loaded.config.certVerify) {
    // The reference warned per connection; once at start says the same without the noise.
    logger.warn('server-certificates-not-verified', {
      reason: 'agent.cert.verify off: any certificate is trusted for websockss servers',
      hint: 'give the CA with agent.cacerts.path instead',
    });
  }
  if (loaded.config.cacertsPassword !== null) {
    logger.debug('cacerts-password-ignored', { reason: 'agent.cacerts.path is a PEM bundle' });
  }
  const controllers = await startAgentControllers(agent, registry, logger, flags).catch(
    async (err: unknown) => {
      await agent.close();
      throw err;
    },
  );
  for (const line of agent.describeListeners()) {
    console.log(`vproxy websocks-agent: ${line.replace(' ', ' listening on ')}`);
  }
  for (const line of controllers?.lines ?? []) console.log(`vproxy websocks-agent: ${line}`);
  for (const group of agent.routing.groups()) {
    console.log(
      `vproxy websocks-agent: server list ${group.name}: ${group
        .servers()
        .map((s) => s.name)
        .join(', ')}`,
    );
  }
  signals.arm(() => {
    programs.stop();
    void Promise.all([controllers?.close(), agent.close()])
      // The pooled kcp / mux sessions under the closed tunnels: without this their
      // UDP sockets kept the process alive until their idle timers, a minute later.
      .then(() => registry.close())
      .then(() => {
        const c = agent.routing.counts;
        const proxied = Object.values(c.proxied).reduce((a, b) => a + b, 0);
        console.log(`vproxy websocks-agent: stopped after ${proxied} proxied, ${c.direct} direct`);
      });
  });
}
