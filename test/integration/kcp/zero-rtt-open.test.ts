import { once } from 'node:events';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAddress } from '../../../src/fd/address.js';
import type { ServerFD } from '../../../src/fd/server-fd.js';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import type { MuxTransport } from '../../../transports/mux/index.js';
import { checkNoLeakedSocketsAfterAll } from '../../helpers/handles.js';
import { DelayRelay, type Hop } from './zero-rtt-relay.js';

// How many round trips a kcp:// stream costs before its first byte leaves the client,
// counted on a relay that delays each datagram 25 ms each way (levels: see DelayRelay),
// on the bench's path: client → kcp:// → a listener that dials a TCP target per stream,
// as `vproxy simple` does. TCP needs one (SYN, SYN-ACK). Set ZERO_RTT_TIMELINE=1 to print
// every datagram.

const registry = createDefaultRegistry();
checkNoLeakedSocketsAfterAll(8000);

const DELAY_MS = 25;
const MARKER = Buffer.from('zero-rtt-open-marker-0123456789');
const MARKER2 = Buffer.from('zero-rtt-open-second-stream-abc');

/** The bench's path through a delay relay; `send` opens a stream and moves `bytes` to the target. */
class Path {
  readonly received = new Map<number, number>();
  readonly relay: DelayRelay;
  readonly #target: Server;
  readonly #server: ServerFD;
  readonly #sockets: (Socket | StreamFD)[] = [];
  readonly #address: string;

  private constructor(target: Server, server: ServerFD, relay: DelayRelay, query: string) {
    this.#target = target;
    this.#server = server;
    this.relay = relay;
    this.#address = `kcp://127.0.0.1:${relay.port}${query}`;
  }

  static async start(query: string, serverQuery = query): Promise<Path> {
    const target = createServer();
    target.listen(0, '127.0.0.1');
    await once(target, 'listening');
    const targetPort = (target.address() as { port: number }).port;
    const server = await registry.listen(`kcp://127.0.0.1:0${serverQuery}`);
    const relay = await DelayRelay.start(server.address().port, DELAY_MS, MARKER);
    const path = new Path(target, server, relay, query);
    let connections = 0;
    target.on('connection', (sock) => {
      const n = connections++;
      path.#sockets.push(sock);
      path.received.set(n, 0);
      sock.on('data', (c: Buffer) => path.received.set(n, (path.received.get(n) ?? 0) + c.length));
      sock.on('error', () => {});
    });
    server.on('connection', (fd: StreamFD) => {
      path.#sockets.push(fd);
      fd.on('error', () => {});
      const out = tcpConnect(targetPort, '127.0.0.1', () => fd.pipe(out));
      out.on('error', () => {});
      path.#sockets.push(out);
    });
    return path;
  }

  async send(payload: Buffer): Promise<StreamFD> {
    const client = await registry.connect(this.#address);
    this.#sockets.push(client);
    client.on('error', () => {});
    client.write(payload);
    return client;
  }

  async waitReceived(total: number): Promise<void> {
    const deadline = Date.now() + 15_000;
    const sum = () => [...this.received.values()].reduce((a, b) => a + b, 0);
    while (sum() < total) {
      if (Date.now() > deadline) throw new Error(`target got ${sum()} of ${total} bytes`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Resolves once the client's pooled session finished its handshake. */
  async sessionReady(): Promise<void> {
    const transport = registry.resolve('kcp') as MuxTransport;
    const session = transport.pool(parseAddress(this.#address))?.sessions()[0];
    if (session === undefined) throw new Error('no pooled session');
    await session.whenReady();
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    // The server's GOAWAY ends the client's pooled session; the relay carries it.
    await this.#server.close();
    const transport = registry.resolve('kcp') as MuxTransport;
    const deadline = Date.now() + 5000;
    while (transport.pool(parseAddress(this.#address)) !== undefined && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await this.relay.close();
    this.#target.close();
  }
}

const payload = (marker: Buffer, bytes: number) => {
  const b = Buffer.alloc(bytes, 0x61);
  marker.copy(b, 0);
  return b;
};

/** The round trips behind the first datagram to the server that `carries` (the data). */
function roundTripsBefore(path: Path, carries: (h: Hop) => boolean): number {
  const hop = path.relay.hops.find((h) => h.direction === 'to-server' && carries(h));
  if (hop === undefined) throw new Error(`no data datagram:\n${path.relay.timeline()}`);
  return hop.level;
}

let path: Path | undefined;
afterEach(async () => {
  if (process.env.ZERO_RTT_TIMELINE && path) console.log(path.relay.timeline());
  await path?.close();
  path = undefined;
});

describe('kcp:// open: round trips before the first byte leaves the client', () => {
  it('keyless: 1, the cookie RETRY answers as a SYN-ACK would (3 with early=0)', async () => {
    path = await Path.start('');
    await path.send(payload(MARKER, 64 * 1024));
    await path.waitReceived(64 * 1024);
    const first = path.relay.hops[0] as Hop;
    expect(first.frames).toEqual(['SETTINGS', 'SYN 1']);
    expect(roundTripsBefore(path, (h) => h.marked)).toBe(1);
    await path.close();

    path = await Path.start('?early=0');
    await path.send(payload(MARKER, 64 * 1024));
    await path.waitReceived(64 * 1024);
    expect(roundTripsBefore(path, (h) => h.marked)).toBe(3);
  }, 30_000);

  it('keyed (no cookie): 1, as TCP (2 with early=0)', async () => {
    // Sealed datagrams hide the frames: the first full-size one is data.
    const isData = (h: Hop) => h.bytes > 1000;
    path = await Path.start('?key=zero-rtt');
    await path.send(payload(MARKER, 64 * 1024));
    await path.waitReceived(64 * 1024);
    expect(roundTripsBefore(path, isData)).toBe(1);
    await path.close();

    path = await Path.start('?key=zero-rtt&early=0');
    await path.send(payload(MARKER, 64 * 1024));
    await path.waitReceived(64 * 1024);
    expect(roundTripsBefore(path, isData)).toBe(2);
  }, 30_000);

  it('a stream on a session that is up: 1, its data waits for the SYN-ACK (as TCP)', async () => {
    // Not 0: the session may have lost its peer since it last heard it (a restarted
    // server), and a connect must fail then, not hand out a stream that is already dead.
    path = await Path.start('');
    await path.send(payload(MARKER, 4096));
    await path.waitReceived(4096);
    await path.sessionReady();
    const before = path.relay.hops.length;
    await path.send(payload(MARKER2, 4096));
    await path.waitReceived(8192);
    const later = path.relay.hops.slice(before);
    const has = (h: Hop, dir: Hop['direction'], frame: string) =>
      h.direction === dir && h.frames.includes(frame);
    const syn = later.find((h) => has(h, 'to-server', 'SYN 3'));
    const synAck = later.find((h) => has(h, 'to-client', 'SYN 3'));
    const data = later.find((h) => has(h, 'to-server', 'DATA 3'));
    expect(syn).toBeDefined();
    expect(synAck).toBeDefined();
    expect(data?.at).toBeGreaterThanOrEqual(synAck?.at ?? Infinity);
    expect(data?.level).toBeGreaterThan(syn?.level ?? Infinity);
  }, 30_000);

  it('a stream the server refuses (max-streams=1) is opened again on a fresh session', async () => {
    path = await Path.start('', '?max-streams=1');
    // Both early SYNs ride the same fresh session; the server takes one and resets the other.
    const [a, b] = await Promise.all([
      path.send(payload(MARKER, 8192)),
      path.send(payload(MARKER2, 8192)),
    ]);
    await path.waitReceived(16_384);
    expect([...path.received.values()]).toEqual([8192, 8192]);
    const resets = path.relay.hops.filter(
      (h) => h.direction === 'to-client' && h.frames.some((f) => f.startsWith('RST')),
    );
    expect(resets.length).toBeGreaterThan(0);
    const pool = (registry.resolve('kcp') as MuxTransport).pool(
      parseAddress(`kcp://127.0.0.1:${path.relay.port}`),
    );
    expect(pool?.size).toBe(2);
    a.destroy();
    b.destroy();
  }, 30_000);
});
