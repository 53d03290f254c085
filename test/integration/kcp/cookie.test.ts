import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAddress } from '../../../src/fd/address.js';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import { CMD_PUSH, encodeSegment } from '../../../transports/kcp/arq/index.js';
import {
  KcpEndpoint,
  type KcpServerFD,
  type KcpSession,
  type KcpStream,
  kcpSessionTransport,
} from '../../../transports/kcp/index.js';
import {
  BUCKET_MS,
  CMD_ECHO,
  CMD_RETRY,
  CookieJar,
} from '../../../transports/kcp/session/cookie.js';
import type { EndpointOptions } from '../../../transports/kcp/session/endpoint.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { writeRandom } from '../../helpers/net.js';

// The cookie round trip of keyless listeners over real UDP on loopback: what is refused and
// counted, that a RETRY never amplifies, that keyed listeners never send one, and that a
// real client gets through when the RETRY or its echo is lost.

let baseline: string[];
beforeAll(() => {
  baseline = snapshotSockets();
});
afterAll(async () => {
  await expectNoLeakedSockets(baseline, 4000);
});

const sessionConfig = { kcp: { preset: 'fast3' as const }, idleTimeoutMs: 0, closeTimeoutMs: 100 };

function options(extra: Partial<EndpointOptions> = {}): EndpointOptions {
  return { session: sessionConfig, cipher: null, maxSessions: 8, rcvbuf: 0, sndbuf: 0, ...extra };
}

function push(conv: number, payload = 'hi'): Buffer {
  return Buffer.from(
    encodeSegment(
      { conv, cmd: CMD_PUSH, frg: 0, wnd: 128, ts: 0, sn: 0, una: 0 },
      Buffer.from(payload),
    ),
  );
}

async function rawSocket(): Promise<Socket> {
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

/** Everything `s` receives from now on. */
function inbox(s: Socket): Buffer[] {
  const got: Buffer[] = [];
  s.on('message', (m) => got.push(m));
  return got;
}

function settle(ms = 60): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function echoOf(retry: Buffer, segments: Buffer): Buffer {
  const out = Buffer.concat([retry, segments]);
  out[4] = CMD_ECHO;
  return out;
}

describe('keyless listener: cookie checks', () => {
  it('garbage and near-miss datagrams never open a session', async () => {
    const endpoint = await KcpEndpoint.listen('127.0.0.1', 0, options(), () => {});
    const a = await rawSocket();
    const shapes = fc.sample(
      fc.tuple(fc.uint8Array({ minLength: 0, maxLength: 120 }), fc.constantFrom(0, 0xfd, 0xfe)),
      500,
    );
    for (const [i, [bytes, cmd]] of shapes.entries()) {
      const d = Buffer.from(bytes);
      if (d.length > 4 && cmd !== 0) d[4] = cmd;
      a.send(d, endpoint.address().port, '127.0.0.1');
      // Small batches: the listener's default receive buffer would drop a burst of 500.
      if (i % 50 === 49) await settle(10);
    }
    await settle(150);
    expect(endpoint.sessionCount).toBe(0);
    expect(endpoint.stats.datagramsIn).toBe(500);
    await endpoint.abort();
    a.close();
  });

  it('refuses and counts a cookie echoed from another address and a forged one', async () => {
    const endpoint = await KcpEndpoint.listen('127.0.0.1', 0, options(), () => {});
    const port = endpoint.address().port;
    const a = await rawSocket();
    const b = await rawSocket();
    const fromA = inbox(a);
    const fromB = inbox(b);
    const start = push(7);
    a.send(start, port, '127.0.0.1');
    await settle();
    const retry = fromA[0] as Buffer;
    expect(retry[4]).toBe(CMD_RETRY);
    expect(retry.length).toBeLessThanOrEqual(start.length);

    b.send(echoOf(retry, start), port, '127.0.0.1'); // A's cookie, B's address
    const forged = echoOf(retry, start);
    randomBytes(16).copy(forged, 8);
    a.send(forged, port, '127.0.0.1');
    await settle();
    expect(endpoint.sessionCount).toBe(0);
    expect(endpoint.stats.cookiesInvalid).toBe(2);
    // Each refused echo of a start gets a fresh RETRY (never a CLOSE: it may be a slow client).
    expect(fromB.map((m) => m[4])).toEqual([CMD_RETRY]);
    expect(endpoint.stats.closeReplies).toBe(0);

    a.send(echoOf(fromA.at(-1) as Buffer, start), port, '127.0.0.1');
    await settle();
    expect(endpoint.sessionCount).toBe(1);
    expect(endpoint.stats.cookiesAccepted).toBe(1);
    await endpoint.abort();
    a.close();
    b.close();
  });

  it('refuses and counts an expired cookie; the fresh RETRY it gets back works', async () => {
    const clock = { now: 1000 * BUCKET_MS };
    const cookies = new CookieJar(() => clock.now);
    const endpoint = await KcpEndpoint.listen('127.0.0.1', 0, options({ cookies }), () => {});
    const port = endpoint.address().port;
    const a = await rawSocket();
    const got = inbox(a);
    const start = push(9);
    a.send(start, port, '127.0.0.1');
    await settle();
    clock.now += 2 * BUCKET_MS;
    a.send(echoOf(got[0] as Buffer, start), port, '127.0.0.1');
    await settle();
    expect(endpoint.sessionCount).toBe(0);
    expect(endpoint.stats.cookiesExpired).toBe(1);
    expect(got).toHaveLength(2);
    a.send(echoOf(got[1] as Buffer, start), port, '127.0.0.1');
    await settle();
    expect(endpoint.sessionCount).toBe(1);
    await endpoint.abort();
    a.close();
  });

  it('a RETRY is never larger than its trigger; shorter datagrams get no answer', async () => {
    const endpoint = await KcpEndpoint.listen('127.0.0.1', 0, options(), () => {});
    const port = endpoint.address().port;
    const a = await rawSocket();
    const got = inbox(a);
    const bare = Buffer.from(
      encodeSegment({ conv: 3, cmd: CMD_PUSH, frg: 0, wnd: 1, ts: 0, sn: 0, una: 0 }),
    );
    a.send(bare, port, '127.0.0.1');
    a.send(bare.subarray(0, 23), port, '127.0.0.1');
    await settle();
    expect(bare.length).toBe(24);
    expect(got.map((m) => m.length)).toEqual([24]);
    expect(endpoint.stats.retriesSent).toBe(1);
    expect(endpoint.stats.stray).toBe(1);
    await endpoint.abort();
    a.close();
  });

  it('a keyed listener sends no RETRY (it authenticates instead)', async () => {
    const { DatagramCipher } = await import('../../../transports/kcp/index.js');
    const cipher = DatagramCipher.fromPassphrase('cookie test');
    const endpoint = await KcpEndpoint.listen('127.0.0.1', 0, options({ cipher }), () => {});
    const a = await rawSocket();
    const got = inbox(a);
    for (let i = 0; i < 20; i++)
      a.send(push(100 + i, 'x'.repeat(40)), endpoint.address().port, '127.0.0.1');
    await settle();
    expect(got).toHaveLength(0);
    expect(endpoint.stats.retriesSent).toBe(0);
    expect(cipher.stats.dropForged).toBe(20);
    await endpoint.abort();
    a.close();
  });
});

/** One client's datagrams to `target`, with a hook that may drop any of them. */
class DroppingRelay {
  readonly front = createSocket('udp4');
  readonly back = createSocket('udp4');
  client: RemoteInfo | null = null;
  constructor(
    readonly target: number,
    readonly drop: (m: Buffer, dir: 'up' | 'down') => boolean,
  ) {
    this.front.on('message', (m, from) => {
      this.client = from;
      if (!drop(m, 'up')) this.back.send(m, target, '127.0.0.1');
    });
    this.back.on('message', (m) => {
      const c = this.client;
      if (c !== null && !drop(m, 'down')) this.front.send(m, c.port, c.address);
    });
  }
  async start(): Promise<number> {
    this.front.bind(0, '127.0.0.1');
    this.back.bind(0, '127.0.0.1');
    await Promise.all([once(this.front, 'listening'), once(this.back, 'listening')]);
    return this.front.address().port;
  }
  async close(): Promise<void> {
    await Promise.all([this.front, this.back].map((s) => new Promise((r) => s.close(() => r(0)))));
  }
}

async function readHash(fd: StreamFD, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  let got = 0;
  for await (const chunk of fd as AsyncIterable<Buffer>) {
    hash.update(chunk);
    got += chunk.length;
    if (got >= bytes) break;
  }
  return hash.digest('hex');
}

describe('keyless client endpoint', () => {
  it('follows one RETRY, counts it, and the listener gets the first bytes', async () => {
    const accepted: KcpSession[] = [];
    const listener = await KcpEndpoint.listen('127.0.0.1', 0, options(), (s) => accepted.push(s));
    const port = listener.address().port;
    const client = await KcpEndpoint.connect('127.0.0.1', port, options());
    const session = client.openSession({ host: '127.0.0.1', port }, 0x1234);
    session.write(Buffer.from('first bytes'));
    await settle(100);
    expect(client.stats.retriesReceived).toBe(1);
    expect(listener.stats.retriesSent).toBe(1);
    expect(listener.stats.cookiesAccepted).toBe(1);
    const buf = Buffer.alloc(64);
    const n = accepted[0]?.kcp.recv(buf) ?? -1;
    expect(buf.subarray(0, Math.max(0, n)).toString()).toBe('first bytes');
    await client.abort();
    await listener.abort();
  });
});

describe('keyless client: setup under loss', () => {
  it('gets through when the first RETRY and the first echo are lost, then runs at full mtu', async () => {
    const server = (await kcpSessionTransport.listen(
      parseAddress('kcp-session://127.0.0.1:0?idle-timeout=5000'),
    )) as KcpServerFD;
    server.on('connection', (fd) => {
      fd.on('error', () => {});
      fd.pipe(fd);
    });
    let lostRetries = 0;
    let lostEchoes = 0;
    const relay = new DroppingRelay(server.address().port, (m, dir) => {
      if (dir === 'down' && m[4] === CMD_RETRY && lostRetries === 0) return ++lostRetries > 0;
      if (dir === 'up' && m[4] === CMD_ECHO && lostEchoes === 0) return ++lostEchoes > 0;
      return false;
    });
    const port = await relay.start();
    const fd = (await kcpSessionTransport.connect(
      parseAddress(`kcp-session://127.0.0.1:${port}?mtu=1200`),
    )) as KcpStream;
    expect(fd.session.kcp.tunables.mtu).toBe(1200 - 24);
    const bytes = 512 * 1024;
    const [sent, received] = await Promise.all([
      writeRandom(fd, bytes, false),
      readHash(fd, bytes),
    ]);
    expect(received).toBe(sent);
    expect(lostRetries).toBe(1);
    expect(lostEchoes).toBe(1);
    const stats = server.endpoint.stats;
    expect(stats.retriesSent).toBeGreaterThanOrEqual(2);
    expect(stats.cookiesAccepted).toBe(1);
    expect(server.endpoint.sessionCount).toBe(1);
    // The setup ran 24 bytes below the mtu to leave room for the ECHO prefix; not after.
    expect(fd.session.kcp.tunables.mtu).toBe(1200);
    fd.destroy();
    await server.endpoint.abort();
    await relay.close();
  }, 20_000);
});
