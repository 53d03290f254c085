import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { hashUntilEnd, writeRandom } from '../../helpers/net.js';

// One stream whose reader stops must stall only its own writer: its siblings
// finish, and neither side buffers more than about one window for it.

const MB = 1024 * 1024;
const WINDOW = 256 * 1024; // the default
const registry = createDefaultRegistry();
let baseline: string[];

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Bytes the process holds: JS heap plus Buffer memory (which lives outside the heap). */
function held(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/**
 * held() once garbage is really gone: V8 frees Buffer memory on a background
 * sweeper after a collection, so collect a few times and take the lowest reading.
 */
async function settledHeld(): Promise<number> {
  let least = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
    least = Math.min(least, held());
  }
  return least;
}

beforeAll(() => {
  baseline = snapshotSockets();
});

afterAll(async () => {
  await expectNoLeakedSockets(baseline, 5000);
});

describe('a paused reader', () => {
  it('stalls only its own stream, and memory stays bounded while 50 MB are offered', async () => {
    const server = await registry.listen('mux+tcp://127.0.0.1:0');
    const accepted: StreamFD[] = [];
    const waiters: ((fd: StreamFD) => void)[] = [];
    server.on('connection', (fd) => {
      fd.on('error', () => {});
      const waiter = waiters.shift();
      if (waiter) waiter(fd);
      else accepted.push(fd);
    });
    const nextAccepted = () =>
      new Promise<StreamFD>((resolve) => {
        const fd = accepted.shift();
        if (fd) resolve(fd);
        else waiters.push(resolve);
      });
    const address = `mux+tcp://127.0.0.1:${server.address().port}`;

    // The stalled stream: its server side is never read until the end.
    const stalled = await registry.connect(address);
    const stalledPeer = await nextAccepted();
    const before = await settledHeld();
    const rssBefore = process.memoryUsage().rss;
    let peak = before;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      peak = Math.max(peak, held());
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }, 10);

    const stalledSent = writeRandom(stalled, 50 * MB);
    // Ten siblings move 2 MB each to the server and must all finish meanwhile.
    const siblings = await Promise.all(Array.from({ length: 10 }, () => registry.connect(address)));
    const siblingPeers = await Promise.all(siblings.map(() => nextAccepted()));
    const [sent, received] = await Promise.all([
      Promise.all(siblings.map((s) => writeRandom(s, 2 * MB))),
      Promise.all(siblingPeers.map((p) => hashUntilEnd(p))),
    ]);
    for (let i = 0; i < siblings.length; i++) {
      expect(received[i]?.bytes).toBe(2 * MB);
      expect(received[i]?.sha256).toBe(sent[i]);
    }

    // The stalled stream got no further than one window (plus the writer's own buffer).
    expect(stalledPeer.readableLength).toBeLessThanOrEqual(WINDOW);
    expect(stalled.bytesWritten).toBeLessThanOrEqual(WINDOW);
    expect(stalled.writableLength).toBeLessThanOrEqual(stalled.writableHighWaterMark + 256 * 1024);
    clearInterval(sampler);
    // What is still held with the stalled stream full (garbage collected) is about one window.
    const retained = (await settledHeld()) - before;
    const growth = peak - before;
    const rssGrowth = rssPeak - rssBefore;
    console.log(
      `paused-reader: retained ${(retained / MB).toFixed(2)} MiB, peak growth ${(growth / MB).toFixed(1)} MiB (heap + buffers, garbage included), rss growth ${(rssGrowth / MB).toFixed(1)} MiB`,
    );
    expect(retained).toBeLessThan(8 * MB);
    expect(growth).toBeLessThan(64 * MB);
    expect(rssGrowth).toBeLessThan(64 * MB);

    // Reading again lets the 50 MB through, byte-exact.
    const [stalledHash, stalledReceived] = await Promise.all([
      stalledSent,
      hashUntilEnd(stalledPeer),
    ]);
    expect(stalledReceived.bytes).toBe(50 * MB);
    expect(stalledReceived.sha256).toBe(stalledHash);

    for (const s of [stalled, ...siblings]) s.destroy();
    await server.close();
  }, 60_000);
});
