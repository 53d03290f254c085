import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { KcpOptions } from '../../../transports/kcp/arq/index.js';
import { exchange, type LinkConfig, randomBytes, SimLink, transfer } from './sim.js';

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

const STREAM_PRESETS: [string, KcpOptions][] = [
  ['fast3', { preset: 'fast3', stream: true }],
  ['normal', { preset: 'normal', stream: true }],
  // Reference defaults, with the congestion window in force (cwnd, ssthresh, slow start).
  ['reference+cwnd', { stream: true, sndWnd: 128, rcvWnd: 128, resend: 2 }],
  ['fast3+pacing', { preset: 'fast3', stream: true, congestion: 'pacing' }],
];

const LINKS: [string, Partial<LinkConfig>][] = [
  ['clean', {}],
  ['1% loss', { loss: 0.01 }],
  ['5% loss, jitter', { loss: 0.05, jitter: 10 }],
  ['10% loss, dup, reorder', { loss: 0.1, duplicate: 0.05, reorder: 0.05, jitter: 5 }],
  ['20% loss, corrupt', { loss: 0.2, corrupt: 0.05, jitter: 5 }],
  [
    '30% loss, everything',
    { loss: 0.3, duplicate: 0.1, reorder: 0.1, corrupt: 0.05, jitter: 20, delay: 40 },
  ],
];

describe('simulated channel: every byte in order exactly once', () => {
  for (const [presetName, options] of STREAM_PRESETS) {
    for (const [linkName, cfg] of LINKS) {
      it(`${presetName} over ${linkName}`, () => {
        const link = new SimLink({ seed: 42, ab: cfg, ba: cfg, a: options, b: options });
        const data = randomBytes(200_000, 1);
        const r = transfer(link, data, { maxTime: 600_000 });
        expect(r.complete).toBe(true);
        expect(sha256(r.received)).toBe(sha256(data));
        expect(link.a.isDead).toBe(false);
        if (cfg.corrupt) expect(link.counters.rejected).toBeGreaterThan(0);
        if (cfg.duplicate) expect(link.b.stats.inPushDuplicate).toBeGreaterThan(0);
      });
    }
  }

  it('both directions at once over 10% loss, reordering and duplication', () => {
    const cfg = { loss: 0.1, duplicate: 0.05, reorder: 0.1, jitter: 10, delay: 20 };
    const opts: KcpOptions = { preset: 'fast2', stream: true };
    const link = new SimLink({ seed: 7, ab: cfg, ba: cfg, a: opts, b: opts });
    const ab = randomBytes(300_000, 2);
    const ba = randomBytes(250_000, 3);
    const r = exchange(link, ab, ba);
    expect(r.ab.complete && r.ba.complete).toBe(true);
    expect(sha256(r.ab.received)).toBe(sha256(ab));
    expect(sha256(r.ba.received)).toBe(sha256(ba));
  });

  it('asymmetric loss: 30% on the data path, none on the ACK path, and the reverse', () => {
    for (const [ab, ba] of [
      [{ loss: 0.3 }, {}],
      [{}, { loss: 0.3 }],
    ] as const) {
      const link = new SimLink({
        seed: 9,
        ab,
        ba,
        a: { preset: 'fast3', stream: true },
        b: { preset: 'fast3', stream: true },
      });
      const data = randomBytes(150_000, 4);
      const r = transfer(link, data);
      expect(r.complete).toBe(true);
      expect(Buffer.compare(r.received, data)).toBe(0);
    }
  });

  it('survives the uint32 millisecond clock wrapping mid-transfer', () => {
    const opts: KcpOptions = { preset: 'fast3', stream: true };
    const link = new SimLink({
      seed: 11,
      ab: { loss: 0.1, delay: 30 },
      ba: { loss: 0.1, delay: 30 },
      a: opts,
      b: opts,
    });
    link.now = 2 ** 32 - 150; // update() sees ...4294967146, …, 4294967295, 0, 1, …
    const data = randomBytes(300_000, 5);
    const r = transfer(link, data);
    expect(link.now).toBeGreaterThan(2 ** 32);
    expect(r.complete).toBe(true);
    expect(Buffer.compare(r.received, data)).toBe(0);
    expect(link.a.srtt).toBeGreaterThan(50);
    expect(link.a.srtt).toBeLessThan(200);
  });

  it('delivers the same bytes when both sides flush right after every input', () => {
    const opts: KcpOptions = { preset: 'normal', stream: true };
    const cfg = { loss: 0.1, reorder: 0.05, jitter: 5 };
    const link = new SimLink({ seed: 3, ab: cfg, ba: cfg, a: opts, b: opts });
    const ab = randomBytes(200_000, 6);
    const ba = randomBytes(100_000, 8);
    const r = exchange(link, ab, ba, { flushOnInput: true });
    expect(Buffer.compare(r.ab.received, ab)).toBe(0);
    expect(Buffer.compare(r.ba.received, ba)).toBe(0);
  });
});

describe('message mode over a lossy channel', () => {
  it('keeps message boundaries, order and content', () => {
    const opts: KcpOptions = { preset: 'fast3', stream: false, rcvWnd: 256, sndWnd: 256 };
    const cfg = { loss: 0.15, duplicate: 0.05, reorder: 0.05, jitter: 8 };
    const link = new SimLink({ seed: 5, ab: cfg, ba: cfg, a: opts, b: opts });
    const mss = link.a.mss;
    const sizes = [0, 1, mss - 1, mss, mss + 1, 3 * mss, 127 * mss, 17, 5000, 2 * mss - 1];
    const messages = sizes.map((n, i) => randomBytes(n, 100 + i));
    for (const m of messages) link.a.send(m);
    const got: Uint8Array[] = [];
    while (got.length < messages.length && link.now < 300_000) {
      link.step();
      for (let size = link.b.peekSize(); size >= 0; size = link.b.peekSize()) {
        const buf = new Uint8Array(size);
        expect(link.b.recv(buf)).toBe(size);
        got.push(buf);
      }
    }
    expect(got.map((m) => m.length)).toEqual(sizes);
    for (const [i, m] of got.entries()) {
      expect(Buffer.compare(m, messages[i] as Uint8Array)).toBe(0);
    }
  });
});
