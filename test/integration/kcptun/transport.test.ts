import { afterEach, describe, expect, it } from 'vitest';
import { ServerGroup } from '../../../src/lb/server-group.js';
import { TcpLB } from '../../../src/lb/tcp-lb.js';
import { Upstream } from '../../../src/lb/upstream.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { requireTool, skipNote } from '../../helpers/require-tool.js';
import {
  exchangeClient,
  exchangeTarget,
  freeTcpPort,
  freeUdpPort,
  kcptunPeer,
  pattern,
  sha,
  tcpConnect,
} from './harness.js';

// kcptun:// through the registry: TcpLB unchanged, forwarding to a kcptun-server and
// listening for a kcptun-client. Options are kcptun's flag names, `kcptun.`-prefixed or bare.

const server = requireTool('kcptun-server');
const client = requireTool('kcptun-client');
const registry = createDefaultRegistry();
const SIZE = 4 * 1024 * 1024;
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function upstreamTo(name: string, address: string): { ups: Upstream; sg: ServerGroup } {
  const sg = new ServerGroup({
    name: `sg-${name}`,
    healthCheck: { timeoutMs: 100, periodMs: 1000, up: 1, down: 1, check: { kind: 'none' } },
  });
  sg.add('b', address);
  const ups = new Upstream(`ups-${name}`);
  ups.add(sg);
  cleanups.push(() => sg.close());
  return { ups, sg };
}

describe.skipIf(server.missing || client.missing)(`kcptun:// transport${skipNote(server)}`, () => {
  it('rejects a bad option when the address is parsed', () => {
    expect(() => registry.parse('kcptun://127.0.0.1:1?crypt=rot13')).toThrow(/crypt "rot13"/);
    expect(() => registry.parse('kcptun://127.0.0.1:1?kcptun.smuxver=3')).toThrow(/smuxver/);
  });

  it('TcpLB → kcptun://(kcptun-server) backend', { timeout: 30_000 }, async () => {
    const target = await exchangeTarget(SIZE);
    cleanups.push(() => target.server.close());
    const udp = await freeUdpPort();
    const peer = kcptunPeer(server.path, 'server', udp, `127.0.0.1:${target.port}`, {
      key: 'lb',
      crypt: 'aes-192',
      extra: ['--smuxver', '2', '--nocomp'],
    });
    cleanups.push(peer.stop);
    const { ups } = upstreamTo(
      'kcptun-back',
      `kcptun://127.0.0.1:${udp}?key=lb&crypt=aes-192&kcptun.smuxver=2&nocomp=1&conn=2&session-idle=100`,
    );
    const lb = await TcpLB.start({
      name: 'lb-to-kcptun',
      address: 'tcp://127.0.0.1:0',
      upstream: ups,
      registry,
    });
    cleanups.push(() => lb.close());
    await new Promise((r) => setTimeout(r, 200));
    const sock = await tcpConnect(lb.bound().port);
    const r = await exchangeClient(sock, SIZE, 20_000, () => target.received[0]);
    expect(r.got).toBe(sha(pattern(SIZE, 2)));
    expect(r.sent).toBe(sha(pattern(SIZE, 1)));
  });

  it('TcpLB listening on kcptun:// for a kcptun-client', { timeout: 30_000 }, async () => {
    const target = await exchangeTarget(SIZE);
    cleanups.push(() => target.server.close());
    const { ups } = upstreamTo('kcptun-front', `127.0.0.1:${target.port}`);
    const udp = await freeUdpPort();
    const lb = await TcpLB.start({
      name: 'lb-kcptun',
      address: `kcptun://127.0.0.1:${udp}?key=front&crypt=salsa20&mode=fast3`,
      upstream: ups,
      registry,
    });
    cleanups.push(() => lb.close());
    const local = await freeTcpPort();
    const peer = kcptunPeer(client.path, 'client', local, `127.0.0.1:${udp}`, {
      key: 'front',
      crypt: 'salsa20',
      mode: 'fast3',
    });
    cleanups.push(peer.stop);
    await new Promise((r) => setTimeout(r, 300));
    const sock = await tcpConnect(local);
    const r = await exchangeClient(sock, SIZE, 20_000, () => target.received[0]);
    expect(r.got).toBe(sha(pattern(SIZE, 2)));
    expect(r.sent).toBe(sha(pattern(SIZE, 1)));
  });
});
