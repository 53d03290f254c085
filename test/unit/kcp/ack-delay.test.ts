import { describe, expect, it } from 'vitest';
import { collectingPair as pair } from './sim.js';

/** `count` full segments from a, input into b one datagram at a time at `now`. */
function deliver(p: ReturnType<typeof pair>, count: number, now: number): void {
  p.a.send(new Uint8Array(count * p.a.mss));
  p.a.flush(now);
  for (const d of p.out[0].splice(0)) p.b.input(d, now);
}

describe('ackDelay: a receiver with nothing to send holds its ACKs', () => {
  it('off (0): every input wants its flush, as the reference', () => {
    const p = pair({ ackDelay: 0 });
    p.b.update(0);
    deliver(p, 1, 1);
    expect(p.b.holdsAcks(1)).toBe(false);
  });

  it('holds a few ACKs until the delay is up, then sends them in one datagram', () => {
    const p = pair({ ackDelay: 3 });
    p.a.update(0);
    p.b.update(0);
    p.out[1].length = 0;
    deliver(p, 4, 1);
    expect(p.b.holdsAcks(1)).toBe(true);
    expect(p.b.delayUntilDue(1)).toBe(3);
    p.b.update(2);
    expect(p.out[1]).toHaveLength(0); // still held
    expect(p.b.holdsAcks(2)).toBe(true);
    expect(p.b.delayUntilDue(2)).toBe(2); // from the oldest ACK's input at 1
    p.b.update(4);
    expect(p.out[1]).toHaveLength(1); // the four ACKs, together
    expect(p.out[1][0]?.length).toBe(4 * 24);
    for (const d of p.out[1]) p.a.input(d, 4);
    expect(p.a.waitSnd).toBe(0);
    expect(p.b.delayUntilDue(4)).toBeGreaterThan(3); // nothing owed: back to the tick
  });

  it('lets a datagram worth of ACKs go at once', () => {
    const p = pair({ ackDelay: 5 });
    p.a.update(0);
    p.b.update(0);
    deliver(p, 60, 1); // 60 ACKs × 24 bytes > one 1350-byte datagram
    expect(p.b.holdsAcks(1)).toBe(false);
  });

  it('holds until the ACKs fill a datagram exactly (mtu 1344: 56 of 24 bytes)', () => {
    const p = pair({ ackDelay: 5, mtu: 1344 });
    p.a.update(0);
    p.b.update(0);
    deliver(p, 55, 1);
    expect(p.b.acksFillDatagram).toBe(false);
    expect(p.b.holdsAcks(1)).toBe(true);
    deliver(p, 1, 1);
    expect(p.b.acksFillDatagram).toBe(true);
    expect(p.b.holdsAcks(1)).toBe(false);
  });

  it('does not hold when the receiver has data of its own to send', () => {
    const p = pair({ ackDelay: 5, congestion: 'pacing' });
    p.a.update(0);
    p.b.update(0);
    deliver(p, 2, 1);
    expect(p.b.holdsAcks(1)).toBe(true);
    p.b.send(new Uint8Array(100)); // the ACKs can ride with this
    expect(p.b.holdsAcks(1)).toBe(false);
  });

  it('does not hold a window update the peer may be waiting for', () => {
    const p = pair({ ackDelay: 5, rcvWnd: 4, sndWnd: 4 });
    p.a.update(0);
    p.b.update(0);
    deliver(p, 4, 1); // fills b's window: a WASK/WINS exchange may follow
    const buf = new Uint8Array(64 * 1024);
    while (p.b.recv(buf) > 0) {} // reading reopens the window: b must tell a now
    expect(p.b.holdsAcks(1)).toBe(false);
  });

  it('rejects a negative or huge delay', () => {
    expect(() => pair({ ackDelay: -1 })).toThrow(/ackDelay/);
    expect(() => pair({ ackDelay: 10_000 })).toThrow(/ackDelay/);
  });
});
