import { describe, expect, it } from 'vitest';
import type { KcpOptions } from '../../../transports/kcp/arq/index.js';
import { RttEstimator } from '../../../transports/kcp/arq/rtt.js';
import { collectingPair, KCPTUN_BENCH, linkemLink, randomBytes, transfer } from './sim.js';

/**
 * kcp-go's RTT estimator (kcpGoRtt, the kcptun path): one sample per datagram from its last
 * ACK, and update_ack's RFC 6298 variant. Expected values below follow kcp-go v5.6.1's
 * update_ack by hand (int32, Go's >> floors): a wrong weight or rounding changes them.
 */
describe('kcp-go RTT estimator', () => {
  it('follows update_ack sample by sample', () => {
    const r = new RttEstimator(30, 10);
    const seen: [number, number, number][] = [];
    for (const rtt of [100, 120, 80, 60, 60, 200, 51]) {
      r.sampleKcpGo(rtt);
      seen.push([r.srtt, r.rttval, r.rto]);
    }
    // Worked by hand: e.g. the third, rtt 80 after srtt 102 / rttvar 42: delta −22, srtt +=
    // −22 >> 3 = −3 → 99; 80 ≥ 99 − 42, so rttvar += (22 − 42) >> 2 = −5 → 37; rto 99 + 148.
    expect(seen).toEqual([
      [100, 50, 300],
      [102, 42, 270],
      [99, 37, 247],
      [94, 37, 242],
      [89, 36, 233],
      [102, 54, 318],
      [95, 53, 307],
    ]);
  });

  it('a sample below srtt − rttvar moves rttvar by 1/32, not 1/4', () => {
    const r = new RttEstimator(30, 10);
    for (const rtt of [100, 100, 100, 100]) r.sampleKcpGo(rtt);
    expect([r.srtt, r.rttval]).toEqual([100, 20]); // 50 → 37 → 27 → 20
    r.sampleKcpGo(40); // srtt 100 + (−60 >> 3) = 92; 40 < 92 − 20: rttvar += 40 >> 5 = 1
    expect([r.srtt, r.rttval, r.rto]).toEqual([92, 21, 176]);
    const ref = new RttEstimator(30, 10);
    for (const rtt of [100, 100, 100, 100, 40]) ref.sample(rtt);
    expect(ref.rttval).toBeGreaterThan(25); // the reference's 1/4 weight
  });
});

/**
 * `a` sends 40 segments (one ms apart); `b` receives them in reverse order and answers with
 * one datagram of 40 ACKs (sn 39 first, sn 0 last) at 100 ms. Returns a's estimate.
 */
function fortyAcksInOneDatagram(options: KcpOptions) {
  const { a, b, out } = collectingPair(options);
  a.update(0);
  b.update(0);
  for (let t = 0; t < 40; t++) {
    a.send(new Uint8Array(a.mss));
    a.flush(t);
  }
  for (const d of out[0].splice(0).reverse()) b.input(d, 60);
  b.flush(100);
  const acks = out[1].splice(0);
  expect(acks).toHaveLength(1);
  for (const d of acks) a.input(d, 100);
  return { srtt: a.srtt, rto: a.rto };
}

describe('kcp-go RTT sampling: once per datagram', () => {
  it('takes the last ACK of a datagram as the one sample', () => {
    // Last ACK: sn 0, sent at 0 ms, so the only sample is 100 ms.
    expect(fortyAcksInOneDatagram({ kcpGoRtt: true })).toEqual({ srtt: 100, rto: 100 + 4 * 50 });
  });

  it('the reference samples all forty: 61, 62, … 100 ms', () => {
    // srtt climbs from 61 by eighths and ends short of the last sample; rttvar shrinks.
    expect(fortyAcksInOneDatagram({})).toEqual({ srtt: 93, rto: 121 });
  });
});

/**
 * The bench's link (25 ms one way, 50 Mbit/s, 100 ms drop-tail queue, 1 % loss) with
 * kcptun's fast3 / windows 1024 / nc, ACKs held to the tick (no flush on input): the window
 * overruns the queue, so the RTT swings between 50 and 150 ms. Sampling every held ACK
 * shrinks rttvar to the spread inside one tick, and the RTO then fires for segments that
 * are only queued: on the real link 34 k timeout resends in 10 s, half of them proven
 * spurious, against 6–9 k with kcp-go's estimator.
 */
describe('kcp-go RTT on an overrun queue', () => {
  const run = (kcpGoRtt: boolean) => {
    const link = linkemLink(7, 0.01, { ...KCPTUN_BENCH, kcpGoRtt });
    const data = randomBytes(8_000_000, 3);
    const r = transfer(link, data, { maxTime: 120_000 });
    expect(r.complete).toBe(true);
    expect(Buffer.compare(r.received, data)).toBe(0);
    const s = link.a.stats;
    return { timeouts: s.retransmitTimeout, spurious: s.retransmitSpuriousTimeout, ms: r.elapsed };
  };

  it('far fewer timeout resends, and fewer found spurious', () => {
    const ref = run(false);
    const go = run(true);
    expect(go.timeouts * 2).toBeLessThan(ref.timeouts);
    expect(go.spurious * 2).toBeLessThan(ref.spurious);
  });
});
