import { once } from 'node:events';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { isVproxyError } from '../../../src/fd/errors.js';
import type { MuxOptions } from '../../../transports/mux/config.js';
import {
  encodeFin,
  encodeFrame,
  encodeGoaway,
  encodePing,
  encodeRst,
  encodeSyn,
  encodeWindowUpdate,
  Flag,
  FrameType,
  WireError,
} from '../../../transports/mux/frame.js';
import { encodeSettings } from '../../../transports/mux/settings.js';
import type { MuxStream } from '../../../transports/mux/stream.js';
import { sessionHarness } from './harness.js';
import type { Event } from './recorder.js';

// A session against a hand-driven peer over an in-memory pipe: what goes on the
// wire, flow control, limits and failures. No sockets; timers are tiny.

const start = sessionHarness();

const PEER = { window: 4096, maxFrame: 1024, maxStreams: 8 };
const isData = (id: number) => (e: Event) => e.t === 'data' && e.id === id;
const dataBytes = (events: Event[], id: number) =>
  events.filter(isData(id)).reduce((n, e) => n + (e.t === 'data' ? e.payload.length / 2 : 0), 0);

/** A server session that finished the handshake with a raw client announcing PEER. */
async function serverWithClient(options: MuxOptions = {}) {
  const ctx = start('server', { pingMs: 0, ...options });
  const streams: MuxStream[] = [];
  ctx.session.on('stream', (s) => {
    s.on('error', () => {});
    streams.push(s);
  });
  ctx.peer.send(encodeSettings(PEER));
  await ctx.session.whenReady();
  return { ...ctx, streams };
}

describe('handshake', () => {
  it('a client opens with its settings; a legacy client with the exact empty SETTINGS', async () => {
    const ours = start('client', { window: 8192, maxFrame: 2048, maxStreams: 5 });
    expect(await ours.peer.waitFor((e) => e.t === 'settings')).toEqual({
      t: 'settings',
      settings: { window: 8192, maxFrame: 2048, maxStreams: 5, early: 65_535 },
    });
    const late = start('client', { window: 8192, maxFrame: 2048, maxStreams: 5, early: false });
    expect(await late.peer.waitFor((e) => e.t === 'settings')).toEqual({
      t: 'settings',
      settings: { window: 8192, maxFrame: 2048, maxStreams: 5 },
    });
    const legacy = start('client', { legacy: true });
    expect(await legacy.peer.waitFor((e) => e.t === 'settings')).toEqual({
      t: 'settings',
      settings: null,
    });
  });

  it('garbage instead of SETTINGS fails with a typed error and a GOAWAY naming it', async () => {
    const { peer, closed } = start('server');
    peer.send(encodeSyn(1));
    const err = await closed;
    expect(isVproxyError(err, 'ERR_MUX_PROTOCOL')).toBe(true);
    expect(err?.message).toMatch(/handshake message is invalid: expected SETTINGS, got HEADERS/);
    const goaway = await peer.waitFor((e) => e.t === 'goaway');
    expect(goaway).toMatchObject({ code: WireError.PROTOCOL_ERROR });
    expect(goaway.t === 'goaway' && goaway.reason).toMatch(/handshake message is invalid/);
  });

  it('a GOAWAY instead of SETTINGS reports the peer reason', async () => {
    const { peer, closed } = start('client');
    peer.send(encodeGoaway(0xffff_ffff, 0xffff_ffff, 'handshake message is invalid'));
    const err = await closed;
    expect(isVproxyError(err, 'ERR_MUX_GOAWAY')).toBe(true);
    expect(err?.message).toMatch(/refused the handshake.*handshake message is invalid/);
  });

  it('a silent peer is reaped by the handshake timeout, on the server side too', async () => {
    const { closed, peer } = start('server', { handshakeTimeoutMs: 40 });
    const err = await closed;
    expect(isVproxyError(err, 'ERR_HANDSHAKE_TIMEOUT')).toBe(true);
    expect(await peer.waitFor((e) => e.t === 'goaway')).toMatchObject({
      code: WireError.SETTINGS_TIMEOUT,
    });
  });

  it('SETTINGS after the handshake is a protocol error', async () => {
    const { peer, closed } = await serverWithClient();
    peer.send(encodeSettings(null));
    expect((await closed)?.message).toMatch(/SETTINGS after the handshake/);
  });
});

describe('flow control', () => {
  it('sends no more than the peer window, in frames no larger than its max frame', async () => {
    const { peer, streams } = await serverWithClient();
    peer.send(encodeSyn(1));
    await peer.waitFor((e) => e.t === 'headers' && e.id === 1);
    const stream = streams[0] as MuxStream;
    stream.write(Buffer.alloc(10_000, 7));
    const settled = await peer.settle();
    expect(dataBytes(settled, 1)).toBe(4096);
    for (const e of settled.filter(isData(1))) {
      expect(e.t === 'data' && e.payload.length / 2).toBeLessThanOrEqual(1024);
    }
    peer.send(encodeWindowUpdate(1, 3000));
    expect(dataBytes(await peer.settle(), 1)).toBe(7096);
    peer.send(encodeWindowUpdate(1, 100_000));
    expect(dataBytes(await peer.settle(), 1)).toBe(10_000);
  });

  it('a paused reader grants nothing; a peer overrunning the window fails the session', async () => {
    const { peer, streams, closed } = await serverWithClient({ window: 4096 });
    peer.send(encodeSyn(1));
    await peer.waitFor((e) => e.t === 'headers' && e.id === 1);
    // 4096 bytes fill the window exactly; the stream is never read.
    peer.send(encodeFrame(FrameType.DATA, 0, 1, Buffer.alloc(1024)));
    peer.send(encodeFrame(FrameType.DATA, 0, 1, Buffer.alloc(3072)));
    await peer.settle();
    expect((streams[0] as MuxStream).readableLength).toBe(4096);
    expect(peer.events.some((e) => e.t === 'window')).toBe(false);
    peer.send(encodeFrame(FrameType.DATA, 0, 1, Buffer.alloc(1)));
    const err = await closed;
    expect(isVproxyError(err, 'ERR_MUX_FLOW_CONTROL')).toBe(true);
    expect(await peer.waitFor((e) => e.t === 'goaway')).toMatchObject({
      code: WireError.FLOW_CONTROL_ERROR,
    });
  });

  it('credit is returned as the reader consumes', async () => {
    const { peer, streams } = await serverWithClient({ window: 4096 });
    peer.send(encodeSyn(1));
    await peer.waitFor((e) => e.t === 'headers' && e.id === 1);
    peer.send(encodeFrame(FrameType.DATA, 0, 1, Buffer.alloc(4096)));
    await peer.settle();
    const stream = streams[0] as MuxStream;
    expect(stream.read(2048)?.length).toBe(2048);
    await peer.settle();
    const granted = peer.events.reduce((n, e) => n + (e.t === 'window' ? e.increment : 0), 0);
    expect(granted).toBe(2048);
  });

  it('a WINDOW_UPDATE that overflows 2^31-1 is a flow-control error', async () => {
    const { peer, closed } = await serverWithClient();
    peer.send(encodeSyn(1), encodeWindowUpdate(1, 0x7fff_ffff));
    expect(isVproxyError(await closed, 'ERR_MUX_FLOW_CONTROL')).toBe(true);
  });
});

describe('streams and limits', () => {
  it('SYN beyond max-streams, or with no stream listener, is refused with RST', async () => {
    const { peer, streams, session } = await serverWithClient({ maxStreams: 2 });
    peer.send(encodeSyn(1), encodeSyn(3), encodeSyn(5));
    expect(await peer.waitFor((e) => e.t === 'headers' && e.id === 5)).toEqual({
      t: 'headers',
      id: 5,
      flags: Flag.END_STREAM,
    });
    expect(streams).toHaveLength(2);
    session.removeAllListeners('stream');
    (streams[0] as MuxStream).destroy();
    peer.send(encodeSyn(7));
    expect(await peer.waitFor((e) => e.t === 'headers' && e.id === 7)).toMatchObject({
      flags: Flag.END_STREAM,
    });
  });

  it('a peer RST errors that stream only', async () => {
    const { peer, streams, session } = await serverWithClient();
    peer.send(encodeSyn(1), encodeSyn(3), encodeRst(1));
    await peer.settle();
    const [a, b] = streams as [MuxStream, MuxStream];
    expect(a.destroyed).toBe(true);
    expect(isVproxyError(a.errored, 'ERR_MUX_RESET')).toBe(true);
    expect(a.errored?.message).toMatch(/stream 1 reset by the peer/);
    expect(b.destroyed).toBe(false);
    expect(session.streamCount).toBe(1);
  });

  it('DATA for a stream never opened is an error; for a closed one it is ignored', async () => {
    const { peer, streams, closed, session } = await serverWithClient();
    peer.send(encodeSyn(1));
    await peer.settle();
    (streams[0] as MuxStream).destroy();
    peer.send(encodeFrame(FrameType.DATA, 0, 1, Buffer.from('late')));
    await peer.settle();
    expect(session.isReady).toBe(true);
    peer.send(encodeFrame(FrameType.DATA, 0, 9, Buffer.from('never')));
    expect((await closed)?.message).toMatch(/DATA for stream 9, which was never opened/);
  });

  it('DATA after END_STREAM is a protocol error', async () => {
    const { peer, closed } = await serverWithClient();
    peer.send(encodeSyn(1), encodeFin(1), encodeFrame(FrameType.DATA, 0, 1, Buffer.from('x')));
    expect((await closed)?.message).toMatch(/DATA on stream 1 after its END_STREAM/);
  });

  it('a peer that stops reading while making us answer PINGs is cut off', async () => {
    const { peer, closed } = await serverWithClient();
    peer.pause();
    const ping = encodePing(false, Buffer.alloc(8));
    for (let i = 0; i < 100_000; i++) peer.send(ping);
    const err = await closed;
    expect(isVproxyError(err, 'ERR_MUX_LIMIT')).toBe(true);
    expect(err?.message).toMatch(/not reading/);
  });
});

describe('closing a stream, as net.Socket does', () => {
  const frames = (events: Event[], id: number) =>
    events.filter((e) => (e.t === 'data' || e.t === 'headers') && e.id === id);
  const FIN = (id: number) => ({ t: 'data', id, flags: Flag.END_STREAM, payload: '' });
  const RST = (id: number) => ({ t: 'headers', id, flags: Flag.END_STREAM });
  const SYNACK = (id: number) => ({ t: 'headers', id, flags: 0 });

  it('destroy() sends FIN, and RST only if the peer then sends data', async () => {
    const { peer, streams } = await serverWithClient();
    peer.send(encodeSyn(1), encodeSyn(3));
    await peer.settle();
    const [a, b] = streams as [MuxStream, MuxStream];
    a.destroy();
    b.destroy();
    await peer.settle();
    expect(frames(peer.events, 1)).toEqual([SYNACK(1), FIN(1)]);
    // The peer of 1 keeps talking: reset. The peer of 3 closes too: nothing more.
    peer.send(encodeFrame(FrameType.DATA, 0, 1, Buffer.from('more')), encodeFin(3));
    await peer.settle();
    expect(frames(peer.events, 1)).toEqual([SYNACK(1), FIN(1), RST(1)]);
    expect(frames(peer.events, 3)).toEqual([SYNACK(3), FIN(3)]);
  });

  it('end() then destroy() sends one FIN; unread data or resetAndDestroy() sends RST', async () => {
    const { peer, streams } = await serverWithClient();
    peer.send(encodeSyn(1), encodeSyn(3), encodeSyn(5));
    peer.send(encodeFrame(FrameType.DATA, 0, 3, Buffer.from('unread')));
    await peer.settle();
    const [a, b, c] = streams as [MuxStream, MuxStream, MuxStream];
    a.end(() => a.destroy());
    b.destroy();
    c.resetAndDestroy();
    await peer.settle();
    expect(frames(peer.events, 1)).toEqual([SYNACK(1), FIN(1)]);
    expect(frames(peer.events, 3)).toEqual([SYNACK(3), RST(3)]);
    expect(frames(peer.events, 5)).toEqual([SYNACK(5), RST(5)]);
  });

  it('streams opened during the handshake beyond the peer limit fail; the rest open', async () => {
    const { session, peer } = start('client', { pingMs: 0, early: false });
    const opened = [session.openStream(), session.openStream(), session.openStream()];
    for (const s of opened) s.on('error', () => {});
    peer.send(encodeSettings({ ...PEER, maxStreams: 2 }));
    await session.whenReady();
    expect(opened.map((s) => s.destroyed)).toEqual([false, false, true]);
    expect(isVproxyError(opened[2]?.errored, 'ERR_MUX_LIMIT')).toBe(true);
    expect(session.localStreamCount).toBe(2);
    expect(() => session.openStream()).toThrow(/allows 2 concurrent streams/);
    expect(session.canOpen).toBe(false);
  });
});

describe('keepalive', () => {
  it('answers a PING with the same 8 bytes', async () => {
    const { peer } = await serverWithClient();
    peer.send(encodePing(false, Buffer.from('01020304050607ff', 'hex')));
    expect(await peer.waitFor((e) => e.t === 'ping')).toEqual({
      t: 'ping',
      ack: true,
      payload: '01020304050607ff',
    });
  });

  it('a silent peer is detected: PING, then the session and its streams fail', async () => {
    const { peer, streams, closed } = await serverWithClient({ pingMs: 30, pingTimeoutMs: 30 });
    peer.send(encodeSyn(1));
    const stream = streams[0];
    await peer.waitFor((e) => e.t === 'ping' && !e.ack);
    const err = await closed;
    expect(isVproxyError(err, 'ERR_MUX_KEEPALIVE_TIMEOUT')).toBe(true);
    // The configured ping timeout fired after the PING (not a default, not the clock).
    expect((err as Error).message).toMatch(/silent 30 ms after a PING/);
    expect((stream as MuxStream).errored).toBe(err);
  });

  it('a peer that answers stays up', async () => {
    const { peer, session } = await serverWithClient({ pingMs: 40, pingTimeoutMs: 40 });
    let answered = 0;
    const timer = setInterval(() => {
      for (const e of peer.events.splice(0)) {
        if (e.t === 'ping' && !e.ack) {
          answered++;
          peer.send(encodePing(true, Buffer.from(e.payload, 'hex')));
        }
      }
    }, 5);
    await new Promise((r) => setTimeout(r, 600));
    clearInterval(timer);
    expect(answered).toBeGreaterThan(1);
    expect(session.isReady).toBe(true);
  });
});

describe('reference (legacy) peers', () => {
  it('an empty SETTINGS gets an empty one back; no WINDOW_UPDATE ever; gzip PSH inflates', async () => {
    const { peer, session } = start('server', { pingMs: 0, window: 4096 });
    const streams: MuxStream[] = [];
    session.on('stream', (s) => streams.push(s));
    peer.send(encodeSettings(null), encodeSyn(1));
    expect(await peer.waitFor((e) => e.t === 'settings')).toEqual({
      t: 'settings',
      settings: null,
    });
    expect(await peer.waitFor((e) => e.t === 'headers')).toEqual({ t: 'headers', id: 1, flags: 0 });
    expect(session.flowControl).toBe(false);
    const text = Buffer.alloc(5000, 'a');
    // Reference senders have no window: 20 kB on a 4 kB window is legal.
    peer.send(encodeFrame(FrameType.DATA, 0, 1, Buffer.alloc(20_000, 1)));
    peer.send(encodeFrame(FrameType.DATA, Flag.GZIP, 1, gzipSync(text)));
    peer.send(encodeFin(1));
    const stream = streams[0] as MuxStream;
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    await once(stream, 'end');
    expect(Buffer.concat(chunks).subarray(20_000).equals(text)).toBe(true);
    stream.end(Buffer.alloc(50_000, 2));
    await peer.waitFor((e) => e.t === 'data' && e.flags === Flag.END_STREAM);
    expect(dataBytes(peer.events, 1)).toBe(50_000);
    expect(peer.events.some((e) => e.t === 'window')).toBe(false);
  });

  it('a legacy server session cannot open streams', async () => {
    const { peer, session } = start('server', { pingMs: 0 });
    peer.send(encodeSettings(null));
    await session.whenReady();
    expect(() => session.openStream()).toThrow(/legacy/);
  });
});

describe('graceful close', () => {
  it('GOAWAY(NO_ERROR), open streams finish, then the inner stream ends', async () => {
    const { peer, streams, session, closed } = await serverWithClient();
    peer.send(encodeSyn(1));
    await peer.settle();
    void session.close();
    expect(await peer.waitFor((e) => e.t === 'goaway')).toMatchObject({
      last: 1,
      code: WireError.NO_ERROR,
    });
    peer.send(encodeSyn(3));
    expect(await peer.waitFor((e) => e.t === 'headers' && e.id === 3)).toMatchObject({
      flags: Flag.END_STREAM,
    });
    const stream = streams[0] as MuxStream;
    stream.resume();
    stream.end('bye');
    peer.send(encodeFrame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.from('bye too')));
    await peer.waitFor((e) => e.t === 'data' && e.flags === Flag.END_STREAM);
    for (let i = 0; i < 100 && !peer.ended; i++) await peer.settle(5);
    expect(peer.ended).toBe(true);
    peer.end();
    expect(await closed).toBeUndefined();
  });
});
