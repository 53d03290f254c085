import { describe, expect, it } from 'vitest';
import { KcpControlBlock } from '../../../transports/kcp/arq/index.js';
import { RttEstimator } from '../../../transports/kcp/arq/rtt.js';

// Spurious timeouts (a peer that stalls longer than the RTO, as a busy Node event loop does
// on a loaded machine): detected from the ACK's echoed timestamp, counted, and answered by
// a floor under the RTO that the stall would have needed, which decays when stalls stop.

/** Two fast3 blocks joined by hand: datagrams wait in queues until `deliver()` is called. */
function pair() {
  const toB: Uint8Array[] = [];
  const toA: Uint8Array[] = [];
  const opts = { preset: 'fast3' as const, stream: true };
  const a = new KcpControlBlock(1, (buf, len) => void toB.push(buf.slice(0, len)), opts);
  const b = new KcpControlBlock(1, (buf, len) => void toA.push(buf.slice(0, len)), opts);
  const deliver = (now: number) => {
    for (const d of toB.splice(0)) b.input(d, now);
    b.flush(now);
    for (const d of toA.splice(0)) a.input(d, now);
  };
  return { a, b, toB, toA, deliver };
}

describe('RTO stall floor', () => {
  it('a spurious timeout raises the floor to the stall it saw; it halves every 10 s after', () => {
    const r = new RttEstimator(30, 10);
    r.sample(2);
    expect(r.rtoAt(0)).toBe(30);
    r.spuriousTimeout(120, 1000);
    expect(r.rtoAt(1000)).toBe(130);
    expect(r.rtoAt(11_001)).toBe(65);
    expect(r.rtoAt(21_002)).toBe(32);
    expect(r.rtoAt(31_003)).toBe(30); // below 2 × minRto: gone
    expect(r.stallFloor).toBe(0);
  });

  it('finds every spurious retransmission of a datagram of ACKs, whatever their una releases first', () => {
    const { a, toB, deliver } = pair();
    let now = 0;
    a.send(new Uint8Array(100));
    a.flush(now);
    deliver(++now);
    // Five segments, held by a stalled peer while the sender times them all out.
    a.send(new Uint8Array(5 * 1226));
    a.flush(now);
    const held = toB.splice(0);
    const sentAt = now;
    for (; now < sentAt + 60; now += 10) a.update(now);
    expect(a.stats.retransmitTimeout).toBeGreaterThanOrEqual(5);
    toB.splice(0);
    toB.push(...held);
    deliver(now); // one datagram: ACK sn 1..5, each with una 6
    expect(a.stats.retransmitSpurious).toBe(5);
    expect(a.stats.retransmitSpuriousTimeout).toBe(5);
    expect(a.waitSnd).toBe(0);
  });

  it('a block whose peer stalled past the RTO counts the spurious timeout and waits longer next time', () => {
    const { a, toB, toA, deliver } = pair();
    let now = 0;
    // A few round trips of 2 ms to settle the RTT (RTO at fast3's 30 ms floor).
    for (let i = 0; i < 20; i++) {
      a.send(new Uint8Array(100));
      a.flush(now);
      now += 1;
      deliver(now);
      now += 1;
      a.flush(now);
    }
    expect(a.stats.retransmitTimeout).toBe(0);
    // The peer stalls for 100 ms: the segment it holds is sent again on timeout meanwhile.
    a.send(new Uint8Array(100));
    a.flush(now);
    const sentAt = now;
    const held = toB.splice(0);
    for (; now < sentAt + 100; now += 10) a.update(now);
    expect(a.stats.retransmitTimeout).toBeGreaterThan(0);
    toB.splice(0); // the retransmissions are still queued behind the stall: drop them
    toB.push(...held);
    deliver(now); // the peer wakes up and acknowledges the first copy
    expect(a.stats.retransmitSpurious).toBeGreaterThan(0);
    expect(a.stats.retransmitSpuriousTimeout).toBeGreaterThan(0);
    // Now the same stall again: no timeout this time.
    const before = a.stats.retransmitTimeout;
    a.send(new Uint8Array(100));
    a.flush(now);
    const again = now;
    const held2 = toB.splice(0);
    for (; now < again + 100; now += 10) a.update(now);
    expect(a.stats.retransmitTimeout).toBe(before);
    toB.push(...held2);
    deliver(now);
    expect(a.waitSnd).toBe(0);
    expect(toA).toHaveLength(0);
  });
});
