import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll } from 'vitest';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { type RunningCli, startCli } from '../helpers/cli.js';
import { closedPort, closedPorts } from '../helpers/net.js';

// Shared by the websocks-agent e2e files: a backend serving 20 MB (/big) and 100 MB (/huge),
// websocks-server and websocks-agent processes from the build, curl, and the server's own
// tunnel count.

export const run = promisify(execFile);
export const BIG = randomBytes(20 * 1024 * 1024);
export const BIG_SHA = createHash('sha256').update(BIG).digest('hex');
export const HUGE = randomBytes(100 * 1024 * 1024);
export const HUGE_SHA = createHash('sha256').update(HUGE).digest('hex');

/** What the suite's beforeAll made: a dual-stack backend, throwaway certs, a temp dir. */
export const fx = {
  backend: undefined as unknown as Server,
  backendPort: 0,
  certs: undefined as unknown as TestCerts,
  dir: '',
  /** Every CLI a test started: stopped after the suite. */
  running: [] as RunningCli[],
};

/** Register the suite's setup and teardown (call once at the top of a test file). */
export function useWebsocksE2e(): void {
  beforeAll(async () => {
    fx.certs = makeTestCerts();
    fx.dir = mkdtempSync(join(tmpdir(), 'wsagent-e2e-'));
    fx.backend = createServer((req, res) => {
      const body =
        req.url === '/huge' ? HUGE : req.url === '/big' ? BIG : Buffer.from(`hello ${req.url}\n`);
      res.writeHead(200, { 'Content-Length': body.length }).end(body);
    });
    // '::' takes IPv4 too (dual stack): one backend for 127.0.0.1, localhost and [::1].
    fx.backend.listen(0, '::');
    await once(fx.backend, 'listening');
    fx.backendPort = (fx.backend.address() as { port: number }).port;
  }, 30_000);

  afterAll(async () => {
    for (const r of fx.running) await r.stop();
    fx.backend.closeAllConnections();
    await new Promise<void>((r) => fx.backend.close(() => r()));
    fx.certs.dispose();
    rmSync(fx.dir, { recursive: true, force: true });
  });
}

export async function startServer(
  tls: boolean,
  kcp: boolean,
): Promise<{ cli: RunningCli; port: number }> {
  const port = await closedPort();
  const args = [
    'websocks-server',
    '--listen',
    `${tls ? 'wss' : 'ws'}://127.0.0.1:${port}`,
    '--auth',
    'alice:secret',
    '--allow-loopback',
    '--log-level',
    'debug',
    ...(tls ? ['--cert', fx.certs.cert, '--key', fx.certs.key] : []),
    ...(kcp ? ['--kcp'] : []),
  ];
  const { running: cli } = await startCli(args, /websocks listening on wss?:\/\//);
  fx.running.push(cli);
  return { cli, port };
}

/** Upgrades the server accepted: its own count of tunnels, read from its log. */
export function accepted(server: RunningCli): number {
  return server.output().match(/websocks-accepted/g)?.length ?? 0;
}

export async function startAgent(
  lines: string[],
  name = `agent-${fx.running.length}.conf`,
): Promise<{ cli: RunningCli; socks: number; http: number; pac: number; ss: number }> {
  const [ss, socks, http, pac] = (await closedPorts(4)) as [number, number, number, number];
  const file = join(fx.dir, name);
  const text = lines
    .join('\n')
    .replaceAll('$SOCKS', String(socks))
    .replaceAll('$HTTP', String(http))
    .replaceAll('$PAC', String(pac))
    .replaceAll('$SS', String(ss));
  writeFileSync(file, text);
  const cli = await startAgentFile(file, ['--log-level', 'debug']);
  return { cli, socks, http, pac, ss };
}

/**
 * `vproxy websocks-agent FILE ARGS…`, stopped after the suite; resolves once
 * `ready` was printed and a server list is UP (every list starts DOWN until
 * its first health check).
 */
export async function startAgentFile(
  file: string,
  args: string[] = [],
  ready: RegExp = /websocks-agent: socks5 listening on/,
): Promise<RunningCli> {
  const { running: cli } = await startCli(['websocks-agent', file, ...args], ready, {
    timeoutMs: 15_000,
  });
  fx.running.push(cli);
  for (let i = 0; i < 100 && !/server-up/.test(cli.output()); i++) await sleep(50);
  return cli;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** curl's body, hashed as it streams (100 MB never sits in memory twice); rejects with curl's stderr. */
export function curl(args: string[]): Promise<{ sha: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['-sS', '--fail', '--max-time', '120', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const hash = createHash('sha256');
    let bytes = 0;
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve({ sha: hash.digest('hex'), bytes });
      else reject(new Error(`curl ${args.join(' ')} exited ${code}: ${stderr.trim()}`));
    });
  });
}
