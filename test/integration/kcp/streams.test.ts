import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAddress } from '../../../src/fd/address.js';
import { isVproxyError } from '../../../src/fd/errors.js';
import type { ServerFD } from '../../../src/fd/server-fd.js';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import type { MuxServerFD, MuxTransport } from '../../../transports/mux/index.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { hashUntilEnd, writeRandom } from '../../helpers/net.js';
import { LossyRelay } from './lossy-relay.js';

// Many mux streams over one KCP session, over real UDP on loopback (through a 1%-loss relay).

const KiB = 1024;
const registry = createDefaultRegistry();
let baseline: string[];
let server: ServerFD;
let relay: LossyRelay;

/** What the server side of each accepted stream saw: its first bytes, how it ended. */
interface Accepted {
  readonly fd: StreamFD;
  head: Buffer;
  error: Error | undefined;
  readonly closed: Promise<void>;
}
const accepted: Accepted[] = [];

beforeAll(async () => {
  baseline = snapshotSockets();
  server = await registry.listen('kcp://127.0.0.1:0');
  server.on('connection', (fd) => {
    const entry: Accepted = {
      fd,
      head: Buffer.alloc(0),
      error: undefined,
      closed: new Promise((r) => fd.once('close', () => r())),
    };
    accepted.push(entry);
    fd.on('error', (err) => {
      entry.error = err;
    });
    fd.on('data', (c: Buffer) => {
      if (entry.head.length < 16) entry.head = Buffer.concat([entry.head, c]).subarray(0, 16);
    });
    fd.pipe(fd);
  });
  relay = await LossyRelay.start(server.address().port, Number(process.env.KCP_LOSS ?? 0.01));
});

afterAll(async () => {
  await server.close();
  await relay.close();
  await expectNoLeakedSockets(baseline, 8000);
});

async function roundTrip(fd: StreamFD, bytes: number): Promise<void> {
  const [sent, received] = await Promise.all([writeRandom(fd, bytes), hashUntilEnd(fd)]);
  expect(received.bytes).toBe(bytes);
  expect(received.sha256).toBe(sent);
}

/** `promise`, or a failure naming `what` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} (waited ${ms} ms)`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Send `half` random bytes, wait for `gate`, send `half` more and end; `echoing`
 * resolves when the first echoed bytes are back, `done` when all came back intact.
 */
function straddle(
  fd: StreamFD,
  half: number,
  gate: Promise<void>,
): { echoing: Promise<unknown>; done: Promise<void> } {
  const echoing = once(fd, 'data');
  const received = hashUntilEnd(fd);
  const sent = createHash('sha256');
  const send = async (bytes: number) => {
    for (let n = 0; n < bytes; n += 64 * KiB) {
      const chunk = randomBytes(Math.min(64 * KiB, bytes - n));
      sent.update(chunk);
      if (!fd.write(chunk)) await once(fd, 'drain');
    }
  };
  const done = (async () => {
    await send(half);
    await gate;
    await send(half);
    fd.end();
    const got = await received;
    expect(got.bytes).toBe(2 * half);
    expect(got.sha256).toBe(sent.digest('hex'));
  })();
  return { echoing, done };
}

describe('kcp:// streams over one session', () => {
  it('carries 100 concurrent streams of 256 KiB each, all byte-exact, on one session', async () => {
    const address = `kcp://127.0.0.1:${relay.port}?session-idle=200`;
    const streams = await Promise.all(Array.from({ length: 100 }, () => registry.connect(address)));
    const pool = (registry.resolve('kcp') as MuxTransport).pool(parseAddress(address));
    expect(pool?.size).toBe(1);
    expect((server as MuxServerFD).sessionCount).toBe(1);
    await Promise.all(streams.map((fd) => roundTrip(fd, 256 * KiB)));
    for (const fd of streams) if (!fd.destroyed) await once(fd, 'close');
    expect(streams.every((fd) => fd.kind === 'kcp')).toBe(true);
  }, 30_000);

  it('a reset stream does not disturb its siblings', async () => {
    const address = `kcp://127.0.0.1:${relay.port}?session-idle=200`;
    const [a, b, victim] = await Promise.all([
      registry.connect(address),
      registry.connect(address),
      registry.connect(address),
    ]);
    if (a === undefined || b === undefined || victim === undefined) throw new Error('no streams');
    victim.on('error', () => {});
    // A marker no random transfer starts with, so the server side can be told apart.
    const marker = Buffer.from('VICTIM-STREAM-01');
    victim.write(Buffer.concat([marker, Buffer.alloc(64 * KiB - marker.length, 1)]));
    const victimEchoed = once(victim, 'data');
    // The siblings are mid-transfer (their first half echoing) when the reset
    // happens, and send their second half only after the peer has seen it.
    let resetSeen: () => void = () => {};
    const afterReset = new Promise<void>((r) => {
      resetSeen = r;
    });
    const siblings = [a, b].map((fd) => straddle(fd, 1024 * KiB, afterReset));
    await Promise.all([victimEchoed, ...siblings.map((s) => s.echoing)]);
    const peer = accepted.find((s) => s.head.equals(marker));
    if (peer === undefined) throw new Error('the victim never reached the server');
    (victim as StreamFD & { resetAndDestroy(): void }).resetAndDestroy();
    // The peer sees the reset as such (an error, not a clean end), promptly: a
    // bounded wait, so a reset that never arrives fails here, naming it.
    await within(peer.closed, 5000, 'the server side never closed after the reset');
    expect(isVproxyError(peer.error, 'ERR_MUX_RESET')).toBe(true);
    expect(victim.destroyed).toBe(true);
    resetSeen();
    // Both siblings carried their second half, after the reset, byte-exact.
    await Promise.all(siblings.map((s) => s.done));
  }, 30_000);
});
