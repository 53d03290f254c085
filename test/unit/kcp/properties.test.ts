import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KcpOptions } from '../../../transports/kcp/arq/index.js';
import { fcParams } from '../../helpers/fc.js';
import { exchange, type LinkConfig, randomBytes, SimLink } from './sim.js';

/** A probability in [0, max] in steps of 0.1 % (fc.double would mostly pick the ends). */
const prob = (max: number) => fc.integer({ min: 0, max: max * 1000 }).map((x) => x / 1000);

const linkArb: fc.Arbitrary<Partial<LinkConfig>> = fc.record({
  delay: fc.integer({ min: 0, max: 60 }),
  jitter: fc.integer({ min: 0, max: 30 }),
  loss: prob(0.3),
  duplicate: prob(0.2),
  reorder: prob(0.2),
  corrupt: prob(0.1),
});

const optionsArb: fc.Arbitrary<KcpOptions> = fc.record({
  preset: fc.constantFrom('normal', 'fast1', 'fast2', 'fast3', 'fast4'),
  congestion: fc.constantFrom('classic', 'pacing'),
  ackRepeat: fc.boolean(),
  mtu: fc.constantFrom(200, 576, 1250, 1400),
});

/** Bounded simulated time: ten minutes is far beyond any healthy run here. */
const MAX_TIME = 600_000;

describe('properties over random loss / reorder / duplication / corruption schedules', () => {
  it('stream mode: both directions deliver every byte, in order, exactly once', () => {
    fc.assert(
      fc.property(
        linkArb,
        linkArb,
        optionsArb,
        fc.integer({ min: 0, max: 60_000 }),
        fc.integer({ min: 0, max: 30_000 }),
        fc.integer({ min: 1, max: 20_000 }),
        fc.integer({ min: 1, max: 0x7fffffff }),
        fc.boolean(),
        (ab, ba, options, sizeAB, sizeBA, chunk, seed, flushOnInput) => {
          const opts = { ...options, stream: true };
          const link = new SimLink({ seed, ab, ba, a: opts, b: opts });
          const dataAB = randomBytes(sizeAB, seed);
          const dataBA = randomBytes(sizeBA, seed ^ 0x5555);
          const r = exchange(link, dataAB, dataBA, { chunk, maxTime: MAX_TIME, flushOnInput });
          expect(r.ab.complete).toBe(true);
          expect(r.ba.complete).toBe(true);
          expect(Buffer.compare(r.ab.received, dataAB)).toBe(0);
          expect(Buffer.compare(r.ba.received, dataBA)).toBe(0);
        },
      ),
      fcParams({ numRuns: 150 }),
    );
  });

  it('message mode: random message sizes arrive with the same boundaries and content', () => {
    fc.assert(
      fc.property(
        linkArb,
        optionsArb,
        fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 5, maxLength: 40 }),
        fc.array(fc.integer({ min: -2, max: 2 }), { minLength: 40, maxLength: 40 }),
        fc.integer({ min: 1, max: 0x7fffffff }),
        (cfg, options, segmentCounts, jiggle, seed) => {
          const opts = { ...options, stream: false };
          const link = new SimLink({ seed, ab: cfg, ba: cfg, a: opts, b: opts });
          const mss = link.a.mss;
          // Sizes around fragment boundaries: k·mss + {−2..2}, never negative.
          const sizes = segmentCounts.map((k, i) => Math.max(0, k * mss + (jiggle[i] ?? 0)));
          const messages = sizes.map((n, i) => randomBytes(n, seed + i));
          let next = 0;
          const got: Uint8Array[] = [];
          while (got.length < messages.length && link.now < MAX_TIME) {
            // Keep at most about a window queued, like a well-behaved writer.
            while (next < messages.length && link.a.waitSnd < link.a.tunables.sndWnd) {
              link.a.send(messages[next++] as Uint8Array);
            }
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
        },
      ),
      fcParams({ numRuns: 80 }),
    );
  });
});
