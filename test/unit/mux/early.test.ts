import { afterEach, describe, expect, it } from 'vitest';
import { parseAddress } from '../../../src/fd/address.js';
import { isVproxyError } from '../../../src/fd/errors.js';
import type { Transport } from '../../../src/fd/transport.js';
import type { MuxOptions } from '../../../transports/mux/config.js';
import {
  encodeFrame,
  encodeRst,
  encodeSyn,
  encodeWindowUpdate,
  FrameType,
} from '../../../transports/mux/frame.js';
import { SessionPool } from '../../../transports/mux/pool.js';
import type { MuxSession } from '../../../transports/mux/session.js';
import {
  EARLY_DATA_MAX,
  encodeSettings,
  MIN_FRAME_SETTING,
  parseSettings,
} from '../../../transports/mux/settings.js';
import type { MuxStream } from '../../../transports/mux/stream.js';
import { sessionHarness } from './harness.js';
import { memoryPair } from './pair.js';
import { RawPeer } from './raw-peer.js';
import type { Event } from './recorder.js';

// Early open (see transports/mux/PROTOCOL.md): a client sends SETTINGS, SYN and up to
// EARLY_DATA_MAX bytes without waiting for the server's SETTINGS; a server keeps its limits
// and lets early data overrun a small window once per session, no further.

const start = sessionHarness();

const SERVER = { window: 4096, maxFrame: 16_384, maxStreams: 8 };
const dataOf = (events: Event[], id: number) =>
  events.filter((e): e is Extract<Event, { t: 'data' }> => e.t === 'data' && e.id === id);
const bytesOf = (events: Event[], id: number) =>
  dataOf(events, id).reduce((n, e) => n + e.payload.length / 2, 0);
/** A client stream whose failure the test reads from `errored` (afterEach destroys sessions). */
function open(session: MuxSession): MuxStream {
  const stream = session.openStream();
  stream.on('error', () => {});
  return stream;
}
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await wait(2);
  }
}

describe('early open: the client', () => {
  it('sends SETTINGS, SYN and at most EARLY_DATA_MAX bytes in small frames before the server answers', async () => {
    const { session, peer } = start('client', { pingMs: 0 });
    const stream = open(session);
    const second = open(session);
    stream.write(Buffer.alloc(200_000, 1));
    second.write(Buffer.alloc(1000, 2));
    await until(() => bytesOf(peer.events, 1) === EARLY_DATA_MAX, 'the early budget');
    await peer.settle();
    expect(peer.events[0]).toEqual({
      t: 'settings',
      settings: { window: 2 ** 18, maxFrame: 2 ** 16, maxStreams: 1024, early: EARLY_DATA_MAX },
    });
    expect(peer.events[1]).toEqual({ t: 'headers', id: 1, flags: 0 });
    expect(bytesOf(peer.events, 1)).toBe(EARLY_DATA_MAX);
    for (const frame of dataOf(peer.events, 1)) {
      expect(frame.payload.length / 2).toBeLessThanOrEqual(MIN_FRAME_SETTING);
    }
    // The second stream is announced, but the first took the whole budget.
    expect(peer.events).toContainEqual({ t: 'headers', id: 3, flags: 0 });
    expect(bytesOf(peer.events, 3)).toBe(0);
    expect(stream.connecting).toBe(true);

    // The server's window (4096) replaces the assumed 65,535: 61,439 bytes over it, so
    // nothing more goes until its WINDOW_UPDATEs bring the credit back above zero.
    peer.send(encodeSettings(SERVER), encodeSyn(1), encodeSyn(3));
    await session.whenReady();
    await until(() => bytesOf(peer.events, 3) === 1000, 'the second stream, in full');
    expect(bytesOf(peer.events, 1)).toBe(EARLY_DATA_MAX);
    peer.send(encodeWindowUpdate(1, EARLY_DATA_MAX - 4096 + 100));
    await until(() => bytesOf(peer.events, 1) === EARLY_DATA_MAX + 100, 'the credit above zero');
    await peer.settle();
    expect(bytesOf(peer.events, 1)).toBe(EARLY_DATA_MAX + 100);
    // Frames grow to the negotiated size once the handshake is done.
    peer.send(encodeWindowUpdate(1, 200_000));
    await until(() => bytesOf(peer.events, 1) === 200_000, 'the rest');
    expect(Math.max(...dataOf(peer.events, 1).map((e) => e.payload.length / 2))).toBe(16_384);
  });

  it('a stream the server refuses fails with ERR_MUX_RESET; the session goes on', async () => {
    const { session, peer } = start('client', { pingMs: 0 });
    const refused = open(session);
    const errored = new Promise<Error>((resolve) => refused.once('error', resolve));
    refused.write('lost');
    await peer.waitFor((e) => e.t === 'data' && e.id === 1);
    peer.send(encodeSettings({ ...SERVER, maxStreams: 0 }), encodeRst(1));
    const err = await errored;
    expect(isVproxyError(err, 'ERR_MUX_RESET')).toBe(true);
    expect(err.message).toMatch(/refused/);
    expect(session.isReady).toBe(true);
    expect(session.isClosed).toBe(false);
  });

  it('sends nothing but SETTINGS before the answer with early=0 or legacy=1', async () => {
    for (const options of [{ early: false }, { legacy: true }]) {
      const { session, peer } = start('client', { pingMs: 0, ...options });
      open(session).write('later');
      expect((await peer.settle()).map((e) => e.t)).toEqual(['settings']);
    }
  });

  it('a reference server (empty SETTINGS) gets the early SYN, and data after its SYN-ACK', async () => {
    const { session, peer } = start('client', { pingMs: 0 });
    const stream = open(session);
    stream.write(Buffer.alloc(100_000, 7));
    await until(() => bytesOf(peer.events, 1) === EARLY_DATA_MAX, 'the early budget');
    peer.send(encodeSettings(null));
    await session.whenReady();
    expect(session.flowControl).toBe(false);
    await peer.settle();
    expect(bytesOf(peer.events, 1)).toBe(EARLY_DATA_MAX);
    peer.send(encodeSyn(1));
    await until(() => bytesOf(peer.events, 1) === 100_000, 'the rest after the SYN-ACK');
  });

  it('an early stream destroyed before the answer is closed on the wire', async () => {
    const { session, peer } = start('client', { pingMs: 0 });
    const stream = open(session);
    stream.resetAndDestroy();
    await peer.waitFor((e) => e.t === 'headers' && e.id === 1 && e.flags === 1);
    expect(session.localStreamCount).toBe(0);
  });
});

describe('early open: the server', () => {
  const earlyClient = { window: 65_536, maxFrame: 16_384, maxStreams: 8, early: EARLY_DATA_MAX };

  async function server(options: MuxOptions, settings = earlyClient) {
    const ctx = start('server', { pingMs: 0, ...options });
    const streams: MuxStream[] = [];
    ctx.session.on('stream', (s) => {
      s.on('error', () => {});
      s.pause(); // a reader that does not read: everything stays buffered
      streams.push(s);
    });
    ctx.peer.send(encodeSettings(settings));
    await ctx.session.whenReady();
    return { ...ctx, streams };
  }
  const data = (id: number, n: number) => encodeFrame(FrameType.DATA, 0, id, Buffer.alloc(n, 3));

  it('accepts early data beyond a small window, up to EARLY_DATA_MAX per session', async () => {
    const { session, peer, streams } = await server({ window: 1024 });
    peer.send(encodeSyn(1));
    for (let i = 0; i < 63; i++) peer.send(data(1, 1024));
    peer.send(data(1, EARLY_DATA_MAX - 63 * 1024));
    await until(() => (streams[0]?.readableLength ?? 0) === EARLY_DATA_MAX, 'the early bytes');
    expect(session.isClosed).toBe(false);
  });

  it('fails the session one byte past window + EARLY_DATA_MAX, even spread over streams', async () => {
    const { peer, closed } = await server({ window: 1024 });
    peer.send(encodeSyn(1), data(1, 1024 + 40_000), encodeSyn(3), data(3, 1024 + 25_535));
    peer.send(data(3, 1));
    const err = await closed;
    expect(isVproxyError(err, 'ERR_MUX_FLOW_CONTROL')).toBe(true);
  });

  it('keeps the window for a client that announced no early data', async () => {
    const { peer, closed } = await server({ window: 1024 }, { ...earlyClient, early: 0 });
    peer.send(encodeSyn(1), data(1, 1025));
    expect(isVproxyError(await closed, 'ERR_MUX_FLOW_CONTROL')).toBe(true);
  });

  it('refuses early SYNs beyond max-streams with RST and buffers none of their data', async () => {
    const { session, peer, streams } = await server({ maxStreams: 1 });
    peer.send(encodeSyn(1), data(1, 1000), encodeSyn(3), data(3, 1000), data(3, 1000));
    await peer.waitFor((e) => e.t === 'headers' && e.id === 3 && e.flags === 1);
    await peer.settle();
    expect(streams.map((s) => s.id)).toEqual([1]);
    expect(session.streamCount).toBe(1);
    expect(session.isClosed).toBe(false);
  });

  it('rejects an EARLY_DATA entry above EARLY_DATA_MAX', () => {
    const entry = Buffer.from([0xf0, 0x01, 0, 1, 0, 0]); // 65,536
    expect(() => parseSettings(entry)).toThrow(/early data 65536/);
    expect(parseSettings(Buffer.from([0xf0, 0x01, 0, 0, 0xff, 0xff]))).toMatchObject({
      early: EARLY_DATA_MAX,
    });
  });
});

describe('early open: the pool', () => {
  /** A pool whose inner "connect" is an in-memory pipe that can say when it heard the peer. */
  function pool() {
    let heard: () => void = () => {};
    const peerHeard = new Promise<void>((resolve) => {
      heard = resolve;
    });
    const peers: RawPeer[] = [];
    const inner: Transport = {
      scheme: 'mem',
      options: [],
      async connect() {
        const [ours, theirs] = memoryPair();
        peers.push(new RawPeer(theirs));
        return Object.assign(ours, { whenPeerHeard: () => peerHeard });
      },
      listen: () => Promise.reject(new Error('not here')),
    };
    const address = parseAddress('mem://peer:1');
    const made = new SessionPool(inner, address, { pingMs: 0 }, POOL, () => {});
    pools.push(made);
    return { pool: made, peers, heard };
  }
  const POOL = { sessions: 1, streamsPerSession: 1 << 30, sessionIdleMs: 0 };
  const pools: SessionPool[] = [];
  afterEach(() => {
    for (const p of pools.splice(0)) for (const s of p.sessions()) s.destroy();
  });

  it('hands out the first stream when the inner stream heard the peer, later ones on SETTINGS', async () => {
    const { pool: p, peers, heard } = pool();
    let first: MuxStream | undefined;
    let second: MuxStream | undefined;
    void p.open({}).then((s) => {
      s.on('error', () => {});
      first = s;
    });
    await until(() => peers.length === 1, 'the inner connect');
    void p.open({}).then((s) => {
      s.on('error', () => {});
      second = s;
    });
    const peer = peers[0] as RawPeer;
    await peer.waitFor((e) => e.t === 'headers' && e.id === 3);
    await wait(20);
    expect(first).toBeUndefined();
    heard();
    await until(() => first !== undefined, 'the first stream');
    expect(first?.id).toBe(1);
    expect(second).toBeUndefined();
    peer.send(encodeSettings(SERVER));
    await until(() => second !== undefined, 'the second stream');
    expect(second?.id).toBe(3);
  });
});
