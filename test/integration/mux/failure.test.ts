import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isVproxyError } from '../../../src/fd/errors.js';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { encodeFrame, encodeSyn, FrameType, WireError } from '../../../transports/mux/frame.js';
import { FrameParser } from '../../../transports/mux/parser.js';
import type { MuxServerFD } from '../../../transports/mux/server.js';
import { encodeSettings } from '../../../transports/mux/settings.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { hashUntilEnd, writeRandom } from '../../helpers/net.js';
import { type Event, Recorder } from '../../unit/mux/recorder.js';
import { Relay } from './relay.js';

// Broken inner connections, dead paths and hostile peers, over real TCP.

const MB = 1024 * 1024;
const PING = 200;
const PING_TIMEOUT = 200;
/**
 * Worst case of the keepalive (see keepalive.ts), plus slack for a loaded machine, which
 * stalls a process for hundreds of ms, more than once: seconds still tell detection from
 * none (a frozen path is otherwise never noticed).
 */
const DETECT_MS = 2 * PING + PING_TIMEOUT + 5000;
const registry = createDefaultRegistry();
let baseline: string[];
let server: MuxServerFD;
let relay: Relay;
const accepted: StreamFD[] = [];

beforeAll(async () => {
  baseline = snapshotSockets();
  server = (await registry.listen(
    `mux+tcp://127.0.0.1:0?ping=${PING}&ping-timeout=${PING_TIMEOUT}`,
  )) as MuxServerFD;
  server.on('connection', (fd) => {
    accepted.push(fd);
    fd.on('error', () => {});
    fd.pipe(fd);
  });
  server.on('handshakeError', () => {});
  relay = await Relay.start(server.address().port);
});

afterAll(async () => {
  await relay.close();
  await server.close();
  await expectNoLeakedSockets(baseline, 5000);
});

const viaRelay = () =>
  `mux+tcp://127.0.0.1:${relay.port}?ping=${PING}&ping-timeout=${PING_TIMEOUT}`;

/** Resolves with the stream's error once it closes; rejects if it is still open after `ms`. */
function failure(fd: StreamFD, ms: number): Promise<Error | null> {
  return new Promise((resolve, reject) => {
    if (fd.closed) return resolve(fd.errored);
    const timer = setTimeout(() => reject(new Error(`stream still open after ${ms} ms`)), ms);
    fd.once('close', () => {
      clearTimeout(timer);
      resolve(fd.errored);
    });
  });
}

async function echoCheck(fd: StreamFD, bytes: number): Promise<void> {
  const [sent, back] = await Promise.all([writeRandom(fd, bytes), hashUntilEnd(fd)]);
  expect(back.sha256).toBe(sent);
}

describe('a broken inner connection', () => {
  it('killed: every stream fails with a typed error, and the next connect opens a fresh session', async () => {
    accepted.length = 0;
    const streams = await Promise.all(
      Array.from({ length: 5 }, () => registry.connect(viaRelay())),
    );
    for (const s of streams) {
      s.on('error', () => {});
      s.resume();
      s.write(Buffer.alloc(64 * 1024));
    }
    const firstPort = streams[0]?.localPort;
    relay.kill();
    const errors = await Promise.all([...streams, ...accepted].map((s) => failure(s, DETECT_MS)));
    for (const err of errors) expect(isVproxyError(err, 'ERR_MUX_SESSION_CLOSED')).toBe(true);

    const fresh = await registry.connect(viaRelay());
    expect(fresh.localPort).not.toBe(firstPort);
    await echoCheck(fresh, 2 * MB);
  });

  it('frozen (silent, still open): the keepalive fails every stream within its timeout', async () => {
    accepted.length = 0;
    const streams = await Promise.all(
      Array.from({ length: 3 }, () => registry.connect(viaRelay())),
    );
    for (const s of streams) s.on('error', () => {});
    const firstPort = streams[0]?.localPort;
    const frozen = relay.freeze();
    const started = Date.now();
    const errors = await Promise.all([...streams, ...accepted].map((s) => failure(s, DETECT_MS)));
    const elapsed = Date.now() - started;
    for (const err of errors) expect(isVproxyError(err, 'ERR_MUX_KEEPALIVE_TIMEOUT')).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(PING);
    expect(elapsed).toBeLessThan(DETECT_MS);
    for (const pair of frozen) for (const s of pair) s.destroy();

    const fresh = await registry.connect(viaRelay());
    expect(fresh.localPort).not.toBe(firstPort);
    await echoCheck(fresh, 2 * MB);
  });
});

/** A raw TCP client to the mux listener that records the frames it gets back. */
async function rawClient(): Promise<{ socket: Socket; events: Event[]; closed: Promise<void> }> {
  const socket = netConnect({ host: '127.0.0.1', port: server.address().port });
  await once(socket, 'connect');
  const recorder = new Recorder();
  const parser = new FrameParser(recorder, { maxData: 1 << 20, maxGzip: 1 << 20 });
  socket.on('data', (chunk: Buffer) => parser.push(chunk));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, events: recorder.events, closed };
}

describe('hostile peers get a GOAWAY with a reason, and the process carries on', () => {
  it('an HTTP request instead of the handshake', async () => {
    const handshakeError = once(server, 'handshakeError');
    const { socket, events, closed } = await rawClient();
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await closed;
    const goaway = events.find((e) => e.t === 'goaway');
    expect(goaway).toMatchObject({ code: WireError.PROTOCOL_ERROR });
    expect(goaway?.t === 'goaway' && goaway.reason).toMatch(/unknown frame type|handshake/);
    const [err] = await handshakeError;
    expect(isVproxyError(err, 'ERR_MUX_PROTOCOL')).toBe(true);
  });

  it('an oversized DATA frame after the handshake', async () => {
    const { socket, events, closed } = await rawClient();
    socket.write(encodeSettings({ window: 65_536, maxFrame: 16_384, maxStreams: 10 }));
    socket.write(encodeSyn(1));
    const header = encodeFrame(FrameType.DATA, 0, 1);
    header.writeUIntBE(1 << 20, 0, 3); // claims 1 MiB; the limit is 64 KiB
    socket.write(header);
    await closed;
    expect(events[0]).toMatchObject({ t: 'settings' });
    const goaway = events.find((e) => e.t === 'goaway');
    expect(goaway).toMatchObject({ code: WireError.FRAME_SIZE_ERROR });
    expect(goaway?.t === 'goaway' && goaway.reason).toMatch(/DATA frame of 1048576 bytes/);
  });

  it('an unknown frame type after the handshake', async () => {
    const { socket, events, closed } = await rawClient();
    socket.write(encodeSettings({ window: 65_536, maxFrame: 16_384, maxStreams: 10 }));
    socket.write(encodeFrame(0x3, 0, 1));
    await closed;
    expect(events.find((e) => e.t === 'goaway')).toMatchObject({
      code: WireError.PROTOCOL_ERROR,
      reason: expect.stringMatching(/unknown frame type 0x03/),
    });
  });

  it('the listener still serves well-behaved clients', async () => {
    const fd = await registry.connect(`mux+tcp://127.0.0.1:${server.address().port}`);
    await echoCheck(fd, MB);
  });
});
