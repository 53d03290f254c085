import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningCli, startCli, VPROXY_BIN } from '../helpers/cli.js';
import { tcpListening } from '../helpers/net.js';
import { requireTool, skipNote } from '../helpers/require-tool.js';
import { until } from '../helpers/wait.js';
import {
  exchangeClient,
  exchangeTarget,
  freeTcpPort,
  freeUdpPort,
  kcptunPeer,
  pattern,
  sha,
  spawnKcptun,
  tcpConnect,
} from '../integration/kcptun/harness.js';

// `vproxy kcptun client|server` as a process, with kcptun's own command lines, against
// Debian's kcptun binaries and against itself.

const run = promisify(execFile);
const server = requireTool('kcptun-server');
const client = requireTool('kcptun-client');
const SIZE = 2 * 1024 * 1024;
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function ours(args: string[]): Promise<{ running: RunningCli }> {
  return startCli(['kcptun', ...args], /listening on: /).then((r) => {
    cleanups.push(() => r.running.stop());
    return r;
  });
}

async function exchange(
  localPort: number,
  target: Awaited<ReturnType<typeof exchangeTarget>>,
  n: number,
) {
  const sock = await tcpConnect(localPort);
  const r = await exchangeClient(sock, SIZE, 15_000, () => target.received[n]);
  expect(r.got).toBe(sha(pattern(SIZE, 2)));
  expect(r.sent).toBe(sha(pattern(SIZE, 1)));
}

describe.skipIf(server.missing || client.missing)(`vproxy kcptun${skipNote(server)}`, () => {
  it('server: a kcptun-client command line, --dscp warned about and ignored', {
    timeout: 30_000,
  }, async () => {
    const target = await exchangeTarget(SIZE);
    cleanups.push(() => target.server.close());
    const udp = await freeUdpPort();
    const { running } = await ours([
      'server',
      '-l',
      `127.0.0.1:${udp}`,
      '-t',
      `127.0.0.1:${target.port}`,
      '--key',
      'e2e',
      '--crypt',
      'salsa20',
      '--mode',
      'fast2',
      '--dscp',
      '46',
      '--quiet',
    ]);
    expect(running.output()).toMatch(/--dscp: accepted and ignored/);
    const local = await freeTcpPort();
    const peer = kcptunPeer(client.path, 'client', local, `127.0.0.1:${udp}`, {
      key: 'e2e',
      crypt: 'salsa20',
      mode: 'fast2',
    });
    cleanups.push(peer.stop);
    // Until it listens, not a fixed 300 ms: a loaded machine starts a process slower.
    await until(`kcptun-client listening on ${local}`, () => tcpListening(local), 10_000, 20);
    await exchange(local, target, 0);
  });

  it('client: -c JSON config (kcptun field names) against kcptun-server', {
    timeout: 30_000,
  }, async () => {
    const target = await exchangeTarget(SIZE);
    cleanups.push(() => target.server.close());
    const udp = await freeUdpPort();
    const peer = spawnKcptun(server.path, [
      '-l',
      `127.0.0.1:${udp}`,
      '-t',
      `127.0.0.1:${target.port}`,
      '-key',
      'json-key',
      '-crypt',
      'aes-128',
      '-smuxver',
      '2',
      '-nocomp',
      '-ds',
      '0',
      '-ps',
      '0',
      '-quiet',
    ]);
    cleanups.push(peer.stop);
    const dir = mkdtempSync(join(tmpdir(), 'kcptun-e2e-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const local = await freeTcpPort();
    const json = join(dir, 'client.json');
    writeFileSync(
      json,
      JSON.stringify({
        localaddr: `127.0.0.1:${local}`,
        remoteaddr: `127.0.0.1:${udp}`,
        key: 'json-key',
        crypt: 'aes-128',
        smuxver: 2,
        nocomp: true,
        datashard: 0,
        parityshard: 0,
        mode: 'fast3',
        acknodelay: true,
      }),
    );
    await ours(['client', '-c', json, '--key', 'overridden-by-json']);
    await exchange(local, target, 0);
  });

  it('our client and our server: --conn 2, --autoexpire, smux v2, three streams', {
    timeout: 30_000,
  }, async () => {
    const target = await exchangeTarget(SIZE);
    cleanups.push(() => target.server.close());
    const udp = await freeUdpPort();
    const local = await freeTcpPort();
    const common = ['--key', 'self', '--smuxver', '2', '--mode', 'fast3', '--quiet'];
    await ours([
      'server',
      '--listen',
      `127.0.0.1:${udp}`,
      '--target',
      `127.0.0.1:${target.port}`,
      '--acknodelay', // ACKs at once on this end, on the interval tick on the client's
      ...common,
    ]);
    await ours([
      'client',
      '--localaddr',
      `127.0.0.1:${local}`,
      '--remoteaddr',
      `127.0.0.1:${udp}`,
      '--conn',
      '2',
      '--autoexpire',
      '1',
      ...common,
    ]);
    await exchange(local, target, 0);
    await new Promise((r) => setTimeout(r, 1100)); // the first connection has expired
    await Promise.all([exchange(local, target, 1), exchange(local, target, 2)]);
  });

  it('vproxy simple with a kcptun:// backend (a kcptun-server)', { timeout: 30_000 }, async () => {
    const target = await exchangeTarget(SIZE);
    cleanups.push(() => target.server.close());
    const udp = await freeUdpPort();
    const peer = kcptunPeer(server.path, 'server', udp, `127.0.0.1:${target.port}`, {
      key: 'simple',
      crypt: 'none',
      mode: 'fast3',
    });
    cleanups.push(peer.stop);
    const local = await freeTcpPort();
    const { running } = await startCli(
      [
        'simple',
        '--bind',
        `127.0.0.1:${local}`,
        '--backend',
        `kcptun://127.0.0.1:${udp}?key=simple&crypt=none&mode=fast3`,
      ],
      /vproxy simple: listening on/,
    );
    cleanups.push(() => running.stop());
    await exchange(local, target, 0);
  });

  it('a flag kcptun does not have fails with its message', async () => {
    const err = await run(process.execPath, [VPROXY_BIN, 'kcptun', 'client', '--bogus', '1']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((err as { code: number }).code).toBe(1);
    expect((err as { stderr: string }).stderr).toMatch(/flag provided but not defined: -bogus/);
  });
});
