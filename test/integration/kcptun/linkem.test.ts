import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { VPROXY_BIN } from '../../helpers/cli.js';
import { requireTool, skipNote } from '../../helpers/require-tool.js';
import { pattern, sha } from './harness.js';

/**
 * Our client CLI ↔ Debian's kcptun-server across linkem (two network namespaces, 5 ms each
 * way, 2 % random loss per direction), aes, FEC 10/3, snappy, smux v1: 4 MB each way,
 * sha256-checked. Needs root for the namespaces: skipped, saying so, when not root (CI is).
 */
const LINKEM = fileURLToPath(new URL('../../../../shared/tools/linkem.py', import.meta.url));
const server = requireTool('kcptun-server');
const isRoot = process.getuid?.() === 0;
const canRun = isRoot && existsSync(LINKEM) && existsSync(VPROXY_BIN) && !server.missing;
const why = canRun
  ? ''
  : ` (skipped: ${isRoot ? 'linkem, the build or kcptun-server missing' : 'needs root for network namespaces'})`;
// Unique per run: pid % 10000 alone let two runs at once (two checkouts, a rerun while
// one hangs) share a namespace and tear each other's down. These name namespaces
// (/run/netns files), not interfaces (the TUN device is named inside each), so the
// 15-character interface limit does not apply; they stay short anyway.
const NS_TAG = `${process.pid}${randomBytes(3).toString('hex')}`;
const NS_A = `kcA${NS_TAG}`;
const NS_B = `kcB${NS_TAG}`;
const SIZE = 4 * 1024 * 1024;

// One script for both ends: the target (role "target") and the driver (role "drive").
const PEER = `
import net from 'node:net';
import { createHash } from 'node:crypto';
const [role, port, size] = process.argv.slice(2).map((v, i) => (i ? Number(v) : v));
${pattern.toString().replace(/^function pattern/, 'function pattern')}
function run(s, seed) {
  const h = createHash('sha256'); let got = 0;
  s.on('data', (d) => { h.update(d); got += d.length; if (got >= size) { console.log('got ' + h.digest('hex')); if (role === 'target') s.end(); else s.destroy(); } });
  s.on('error', (e) => { console.log('error ' + e.message); });
  s.write(pattern(size, seed));
}
if (role === 'target') net.createServer((s) => run(s, 2)).listen(port, '127.0.0.1', () => console.log('ready'));
else { const s = net.connect(port, '127.0.0.1', () => run(s, 1)); }
`;

const children: ChildProcess[] = [];
let dir = '';
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
  spawnSync('python3', [LINKEM, '--ns-a', NS_A, '--ns-b', NS_B, '--teardown']);
});

function start(
  ns: string,
  cmd: string,
  args: string[],
): { child: ChildProcess; out: () => string } {
  const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  return { child, out: () => out };
}

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timeout: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Whether a UDP socket is bound to `port` in namespace `ns` (its /proc/net/udp). */
function udpBound(ns: string, port: number): boolean {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/udp'], { encoding: 'utf8' });
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return r.stdout.split('\n').some((line) => line.trim().split(/\s+/)[1]?.endsWith(hex));
}

describe.skipIf(!canRun)(`kcptun over linkem, 2 % loss${why}${skipNote(server)}`, () => {
  it('our client ↔ kcptun-server, aes, FEC 10/3, 4 MB each way', { timeout: 60_000 }, async () => {
    dir = mkdtempSync(join(tmpdir(), 'kcptun-linkem-'));
    const script = join(dir, 'peer.mjs');
    writeFileSync(script, PEER);
    const ready = join(dir, 'ready');
    const link = spawn(
      'python3',
      [
        LINKEM,
        '--ns-a',
        NS_A,
        '--ns-b',
        NS_B,
        '--delay',
        '5',
        '--loss',
        '2',
        '--seed',
        '7',
        '--ready-file',
        ready,
      ],
      { stdio: 'ignore' },
    );
    children.push(link);
    await until(() => existsSync(ready), 10_000, 'linkem ready');
    const target = start(NS_B, process.execPath, [script, 'target', '5000', String(SIZE)]);
    await until(() => target.out().includes('ready'), 10_000, 'target');
    const flags = ['--key', 'lossy', '--crypt', 'aes', '--quiet'];
    start(NS_B, server.path, ['-l', '10.77.0.2:4000', '-t', '127.0.0.1:5000', ...flags]);
    const client = start(NS_A, process.execPath, [
      VPROXY_BIN,
      'kcptun',
      'client',
      '-l',
      '127.0.0.1:6000',
      '-r',
      '10.77.0.2:4000',
      ...flags,
    ]);
    await until(() => client.out().includes('listening on'), 10_000, 'our client');
    // kcptun-server prints nothing when ready: wait for its UDP socket in B, not a fixed time.
    await until(() => udpBound(NS_B, 4000), 10_000, 'kcptun-server bound');
    const drive = start(NS_A, process.execPath, [script, 'drive', '6000', String(SIZE)]);
    await until(
      () => drive.out().includes('got ') && target.out().includes('got '),
      45_000,
      `exchange: ${drive.out()} / ${target.out()}`,
    );
    expect(drive.out()).toContain(`got ${sha(pattern(SIZE, 2))}`);
    expect(target.out()).toContain(`got ${sha(pattern(SIZE, 1))}`);
  });
});
