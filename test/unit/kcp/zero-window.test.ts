import { describe, expect, it } from 'vitest';
import { CMD_WASK, CMD_WINS, type KcpOptions } from '../../../transports/kcp/arq/index.js';
import { KCP_PACING, linkemLink, randomBytes, SimLink, throttledTransfer, wireLog } from './sim.js';

// Zero-window probing. A receiver whose application falls behind fills its window and
// advertises zero; the sender then sends nothing new and, once everything in flight is
// acknowledged, hears nothing. The receiver's WINS saying the window reopened is one
// unacknowledged datagram: the reference's only fallback for losing it is a WASK 7 s after the
// window closed, which is what stalled 10 MB transfers ~7 s on linkem at 5 % loss. All times
// below are simulated.

/** a streams to b, which reads nothing until told; b's window is small. */
function stalledLink(seed: number) {
  // a's small send window keeps everything it sends inside what b can still buffer.
  const a: KcpOptions = { preset: 'fast3', stream: true, sndWnd: 16 };
  const b: KcpOptions = { preset: 'fast3', stream: true, rcvWnd: 32 };
  const link = new SimLink({ seed, a, b, ab: { delay: 20 }, ba: { delay: 20 } });
  link.record = true;
  const data = randomBytes(200 * link.a.mss, seed);
  link.a.send(data);
  // Run until a has learnt the zero window and everything it sent was acknowledged.
  while (!(link.a.rmtWnd === 0 && link.a.sndUna === link.a.sndNxt) && link.now < 10_000) {
    link.step();
  }
  return { link, data };
}

function drainB(link: SimLink, into: Uint8Array[], now: number) {
  const buf = new Uint8Array(64 * 1024);
  for (let n = link.b.recv(buf); n > 0; n = link.b.recv(buf)) into.push(buf.slice(0, n));
  link.b.flush(now);
}

/** Steps until b has everything (reading as it goes); returns the simulated ms it took. */
function readAll(link: SimLink, got: Uint8Array[], length: number, limit: number): number {
  const start = link.now;
  while (Buffer.concat(got).length < length && link.now - start < limit) {
    link.step();
    drainB(link, got, link.now);
  }
  return link.now - start;
}

describe('zero window probing', () => {
  it('asks one RTO after the window closed, doubling the wait up to 7 s; resumes on reopen', () => {
    const { link, data } = stalledLink(3);
    expect(link.a.rmtWnd).toBe(0);
    expect(link.b.readableBytes).toBe(32 * link.b.mss);
    const stalledAt = link.now;
    const sentBefore = link.a.sndNxt;
    const rto = link.a.rto;
    const asks: number[] = [];
    while (link.now - stalledAt < 40_000) {
      const before = link.a.stats.outWask;
      link.step();
      if (link.a.stats.outWask > before) asks.push(link.now);
    }
    expect(link.a.sndNxt).toBe(sentBefore); // nothing new while the window is 0
    const interval = link.a.tunables.interval;
    expect(asks[0]).toBeLessThanOrEqual(stalledAt + rto + interval);
    const gaps = asks.slice(1).map((t, i) => t - (asks[i] as number));
    for (const [i, gap] of gaps.entries()) {
      const want = Math.min(7000, rto * 2 ** (i + 1));
      expect(gap).toBeGreaterThanOrEqual(want - interval);
      expect(gap).toBeLessThanOrEqual(want + interval);
    }
    expect(gaps.at(-1)).toBeGreaterThanOrEqual(7000 - interval); // capped, and reached
    // b answers each probe with its (still zero) window.
    const wins = wireLog(link, 1).filter((s) => s.cmd === CMD_WINS);
    expect(wins.length).toBeGreaterThanOrEqual(asks.length - 1);
    expect(wins.every((s) => s.wnd === 0)).toBe(true);

    // The application reads: b tells a at once (WINS with the reopened window).
    const got: Uint8Array[] = [];
    drainB(link, got, link.now);
    expect(wireLog(link, 1).at(-1)).toMatchObject({ cmd: CMD_WINS });
    expect(wireLog(link, 1).at(-1)?.wnd).toBeGreaterThan(0);
    expect(readAll(link, got, data.length, 5000)).toBeLessThan(2000);
    expect(Buffer.compare(Buffer.concat(got), data)).toBe(0);
  });

  it('recovers within a second when the reopening WINS is lost (the reference: 7 s)', () => {
    const { link, data } = stalledLink(4);
    const got: Uint8Array[] = [];
    // Lose everything b says while it reads, including its WINS.
    link.blackhole = [false, true];
    drainB(link, got, link.now);
    expect(link.b.stats.outWins).toBeGreaterThan(0);
    link.blackhole = [false, false];
    expect(readAll(link, got, data.length, 30_000)).toBeLessThan(1000);
    expect(Buffer.compare(Buffer.concat(got), data)).toBe(0);
    expect(link.a.stats.outWask).toBeGreaterThan(0); // a probe, not the 7 s one
  });

  it('repeats the reopening WINS unasked until the peer sends again, then stops', () => {
    const { link, data } = stalledLink(5);
    const got: Uint8Array[] = [];
    link.blackhole = [true, true]; // b's first WINS is lost, and so is everything a says
    drainB(link, got, link.now);
    link.blackhole = [true, false];
    const start = link.now;
    while (link.now - start < 1000) link.step();
    // b told a again although no WASK reached it; a heard, its PUSHes are lost meanwhile.
    expect(link.b.stats.inWask).toBe(0);
    expect(link.b.stats.outWins).toBeGreaterThanOrEqual(3);
    expect(link.a.rmtWnd).toBeGreaterThan(0);
    link.blackhole = [false, false];
    expect(readAll(link, got, data.length, 10_000)).toBeLessThan(2000);
    expect(Buffer.compare(Buffer.concat(got), data)).toBe(0);
    const wins = link.b.stats.outWins;
    const done = link.now;
    while (link.now - done < 20_000) link.step();
    expect(link.b.stats.outWins).toBe(wins); // a's PUSH arrived: no more repeats
  });

  it('gives up repeating an unanswered WINS after 7 s', () => {
    const { link } = stalledLink(6);
    link.blackhole = [true, false]; // a is gone: nothing of it arrives any more
    drainB(link, [], link.now);
    const start = link.now;
    while (link.now - start < 60_000) link.step();
    // The first tell, then one RTO (200 ms: b has no RTT sample) doubling to 6.4 s.
    expect(link.b.stats.outWins).toBe(1 + 6);
    expect(wireLog(link, 0).some((s) => s.cmd === CMD_WASK)).toBe(false);
  });
});

describe('a 10 MB transfer at 5 % loss whose reader falls behind', () => {
  // The linkem bench's link (25 ms one-way, 50 Mbit/s, 100 ms queue) and kcp://'s settings;
  // the receiving application stops reading for 350 ms every second (a busy event loop on a
  // loaded machine), long enough to fill the 1024-segment window. Seeds 12 and 15 lose the
  // reopening WINS: before the persist timer both took 9.35 s, with one 7 s gap.
  for (const seed of [12, 15]) {
    it(`seed ${seed}: never waits a second for a probe`, () => {
      const link = linkemLink(seed, 0.05, KCP_PACING);
      const data = randomBytes(10_000_000, 3);
      let lastGot = 0;
      let lastProgress = 0;
      let maxGap = 0;
      const pausing = (now: number) =>
        now > 200 && now % 1000 < 350 ? 0 : Number.POSITIVE_INFINITY;
      const got = throttledTransfer(link, data, { read: pausing }, (n) => {
        if (n === lastGot) return;
        maxGap = Math.max(maxGap, link.now - lastProgress);
        lastGot = n;
        lastProgress = link.now;
      });
      expect(got).toBe(data.length);
      expect(link.b.stats.outWins).toBeGreaterThan(0); // the window did close and reopen
      expect(maxGap).toBeLessThan(1000);
      expect(link.now).toBeLessThan(4000);
    });
  }
});
