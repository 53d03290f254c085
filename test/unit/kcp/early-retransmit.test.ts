import { describe, expect, it } from 'vitest';
import { decodeDatagram, type KcpOptions } from '../../../transports/kcp/arq/index.js';
import { collectingPair } from './sim.js';

/**
 * kcp-go's early retransmit (the kcptun path): a segment passed by one later ACK is resent
 * by the next flush that numbers no new segment, instead of waiting for `resend` (2) later
 * ACKs or the RTO. Two segments sent, the first lost, the second acknowledged.
 */
function run(options: KcpOptions, queueMore: boolean) {
  const { a, b, out } = collectingPair({ mtu: 1000, ...options }, 9);
  a.update(0);
  b.update(0);
  a.send(new Uint8Array(2 * a.mss));
  a.flush(0);
  // mtu 1000: each full segment is a datagram of its own. The first is lost.
  const dgs = out[0].splice(0);
  expect(dgs.flatMap((d) => decodeDatagram(d)).map((s) => s.sn)).toEqual([0, 1]);
  expect(dgs).toHaveLength(2);
  b.input(dgs[1] as Uint8Array, 1);
  b.flush(1);
  if (queueMore) a.send(new Uint8Array(10 * a.mss)); // new data can go: no early resend
  for (const d of out[1].splice(0)) a.input(d, 2);
  a.flush(2);
  return out[0]
    .splice(0)
    .flatMap((d) => decodeDatagram(d))
    .filter((s) => s.cmd === 81);
}

describe('early retransmit (kcp-go)', () => {
  it('resends the passed segment at the next flush with nothing new to send', () => {
    const resent = run({ earlyRetransmit: true }, false);
    expect(resent.map((s) => s.sn)).toEqual([0]);
  });

  it('is off by default: one later ACK is not enough (fast3 resends after 2)', () => {
    expect(run({}, false)).toEqual([]);
  });

  it('waits while the flush can send new segments instead', () => {
    const sent = run({ earlyRetransmit: true }, true).map((s) => s.sn);
    expect(sent).not.toContain(0);
    expect(sent.length).toBeGreaterThan(0);
  });
});
