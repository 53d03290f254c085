import { describe, expect, it } from 'vitest';
import {
  CMD_PUSH,
  decodeDatagram,
  KcpControlBlock,
  type KcpOptions,
} from '../../../transports/kcp/arq/index.js';
import { randomBytes, SimLink, transfer, wireLog } from './sim.js';

/**
 * When the k-th transmission of a lone segment happens with no ACK ever arriving, per the
 * spec (§1.7): first send at t0 with resendts = t0 + rto + (nodelay ? 0 : rto/8); each
 * timeout adds rx_rto (rx_rto/2 with nodelay). update() runs exactly at each due time.
 */
function expectedSendTimes(deadLink: number, nodelay: boolean, t0: number): number[] {
  const rxRto = 200; // no RTT sample yet
  const times = [t0];
  let rto = rxRto;
  let due = t0 + rto + (nodelay ? 0 : rxRto >> 3);
  while (times.length < deadLink) {
    times.push(due);
    rto += nodelay ? rxRto >> 1 : rxRto;
    due += rto;
  }
  return times;
}

describe('dead link', () => {
  for (const [name, options] of [
    ['reference defaults, deadLink 20', { deadLink: 20 }],
    ['fast3, deadLink 6', { preset: 'fast3', deadLink: 6 }],
  ] as [string, KcpOptions][]) {
    it(`${name}: reports dead exactly at the deadLink-th transmission under 100% loss`, () => {
      const link = new SimLink({ seed: 1, a: options, b: options });
      link.record = true;
      link.blackhole = [true, true];
      const deadLink = link.a.tunables.deadLink;
      link.a.update(0);
      link.a.send(new Uint8Array(100));
      link.a.flush(0);
      const sendTimes: number[] = [];
      let deadAt = -1;
      while (deadAt < 0 && link.now < 3_600_000) {
        const before = link.wire[0].length;
        link.step();
        if (link.wire[0].length > before) sendTimes.push(link.now);
        if (link.a.isDead) deadAt = link.now;
        else expect(link.a.state).toBe(0);
      }
      const pushes = wireLog(link, 0).filter((s) => s.cmd === CMD_PUSH);
      expect(pushes).toHaveLength(deadLink);
      expect(pushes.every((s) => s.sn === 0)).toBe(true);
      expect(link.a.state).toBe(-1);
      const expected = expectedSendTimes(deadLink, link.a.tunables.nodelay, 0);
      expect(deadAt).toBe(expected[expected.length - 1]);
      expect([0, ...sendTimes]).toEqual(expected);
    });
  }

  it('a peer that vanishes mid-transfer is declared dead, the survivor keeps its state', () => {
    const opts: KcpOptions = { preset: 'fast3', stream: true, deadLink: 10 };
    const link = new SimLink({ seed: 2, ab: { loss: 0.05 }, ba: { loss: 0.05 }, a: opts, b: opts });
    const data = randomBytes(100_000, 1);
    expect(transfer(link, data).complete).toBe(true);
    link.blackhole = [true, true];
    link.a.send(new Uint8Array(5000));
    const start = link.now;
    while (!link.a.isDead && link.now - start < 120_000) link.step();
    expect(link.a.isDead).toBe(true);
    expect(link.b.isDead).toBe(false); // b has nothing in flight, so it cannot tell
    expect(link.a.waitSnd).toBeGreaterThan(0);
  });
});

describe('classic congestion window', () => {
  it('starts at one segment, grows on ACKs, collapses to 1 on timeout', () => {
    const out: Uint8Array[] = [];
    const k = new KcpControlBlock(1, (d, n) => out.push(d.slice(0, n)), { sndWnd: 64 });
    k.send(new Uint8Array(20 * k.mss));
    k.update(0);
    // First flush: cwnd was 0, so nothing leaves; it becomes 1.
    expect(out).toHaveLength(0);
    expect(k.cwnd).toBe(1);
    const link = new SimLink({ seed: 5, a: { sndWnd: 64, stream: true }, b: { stream: true } });
    const data = randomBytes(300 * link.a.mss, 9);
    const seen: number[] = [];
    const r = transfer(link, data, {
      onStep: (l) => {
        seen.push(l.a.cwnd);
      },
    });
    expect(r.complete).toBe(true);
    expect(Math.max(...seen)).toBeGreaterThan(10); // slow start then avoidance
    expect(link.a.ssthresh).toBe(2);
    // Now cut the link: the timeout retransmission collapses the window.
    link.blackhole = [true, true];
    link.a.send(new Uint8Array(10 * link.a.mss));
    const cwndBefore = link.a.cwnd;
    expect(cwndBefore).toBeGreaterThan(2);
    while (link.a.stats.retransmitTimeout === 0) link.step();
    expect(link.a.cwnd).toBe(1);
    expect(link.a.ssthresh).toBe(Math.max(2, Math.floor(Math.min(64, cwndBefore, 128) / 2)));
  });

  it('halves on fast retransmit: ssthresh = inflight/2, cwnd = ssthresh + resend', () => {
    const opts: KcpOptions = { sndWnd: 64, rcvWnd: 128, resend: 2, stream: true, interval: 10 };
    const link = new SimLink({ seed: 6, a: opts, b: opts, ab: { delay: 20 }, ba: { delay: 20 } });
    // Warm the window up, then drop exactly one data datagram on its way to b.
    expect(transfer(link, randomBytes(200 * link.a.mss, 1)).complete).toBe(true);
    let dropped = false;
    const realInput = link.b.input.bind(link.b);
    link.b.input = (d, now) => {
      if (!dropped && decodeDatagram(d).some((x) => x.cmd === CMD_PUSH)) {
        dropped = true;
        return 0;
      }
      return realInput(d, now);
    };
    const data = randomBytes(100 * link.a.mss, 2);
    link.a.send(data);
    const sink = new Uint8Array(data.length);
    let got = 0;
    let checked = false;
    while (got < data.length && link.now < 60_000) {
      const fastBefore = link.a.stats.retransmitFast;
      const timeoutBefore = link.a.stats.retransmitTimeout;
      link.step();
      for (let n = link.b.recv(sink.subarray(got)); n > 0; n = link.b.recv(sink.subarray(got))) {
        got += n;
      }
      const fastNow = link.a.stats.retransmitFast > fastBefore;
      if (!checked && fastNow && link.a.stats.retransmitTimeout === timeoutBefore) {
        // Observed right after the flush that resent: nothing has been input since.
        const inflight = link.a.sndNxt - link.a.sndUna;
        expect(link.a.ssthresh).toBe(Math.max(2, Math.floor(inflight / 2)));
        expect(link.a.cwnd).toBe(link.a.ssthresh + 2);
        checked = true;
      }
    }
    expect(checked).toBe(true);
    expect(Buffer.compare(sink, data)).toBe(0);
  });
});
