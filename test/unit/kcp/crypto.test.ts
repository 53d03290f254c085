import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DatagramCipher,
  deriveKey,
  MAX_SKEW_MS,
  NonceSource,
  REPLAY_WINDOW,
  ReplayWindow,
  SEAL_OVERHEAD,
} from '../../../transports/kcp/crypto.js';

const key = deriveKey('correct horse');
const plain = Buffer.from('a KCP datagram, more or less');

function sealOne(cipher: DatagramCipher, from = new NonceSource(), data: Uint8Array = plain) {
  return cipher.seal(data, data.length, from);
}

describe('datagram encryption', () => {
  it('round-trips and adds exactly the documented overhead', () => {
    const cipher = new DatagramCipher(key);
    const sealed = sealOne(cipher);
    expect(sealed.length).toBe(plain.length + SEAL_OVERHEAD);
    expect(Buffer.from(cipher.open(sealed) ?? [])).toEqual(plain);
    expect(cipher.stats.opened).toBe(1);
    expect(cipher.stats.dropped).toBe(0);
  });

  it('derives the key once per passphrase, deterministically', () => {
    expect(deriveKey('correct horse')).toBe(key);
    expect(Buffer.from(deriveKey('other'))).not.toEqual(Buffer.from(key));
  });

  it('rejects and counts truncated datagrams', () => {
    const cipher = new DatagramCipher(key);
    const sealed = sealOne(cipher);
    for (const n of [0, 1, SEAL_OVERHEAD - 1])
      expect(cipher.open(sealed.subarray(0, n))).toBeNull();
    expect(cipher.stats.dropTruncated).toBe(3);
    // Cut inside the ciphertext: long enough, but the tag no longer matches.
    expect(cipher.open(sealed.subarray(0, sealed.length - 1))).toBeNull();
    expect(cipher.stats.dropForged).toBe(1);
  });

  it('rejects any single modified byte (property)', () => {
    const cipher = new DatagramCipher(key);
    const sealed = sealOne(cipher);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: sealed.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (at, flip) => {
          const copy = Buffer.from(sealed);
          copy[at] = (copy[at] as number) ^ flip;
          expect(cipher.open(copy)).toBeNull();
        },
      ),
      { numRuns: 300 },
    );
    expect(cipher.stats.dropped).toBeGreaterThanOrEqual(300);
  });

  it('rejects forged datagrams (random bytes) without throwing (property)', () => {
    const cipher = new DatagramCipher(key);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (junk) => {
        expect(cipher.open(junk)).toBeNull();
      }),
      { numRuns: 300 },
    );
    expect(cipher.stats.opened).toBe(0);
  });

  it('rejects a wrong key', () => {
    const sealed = sealOne(new DatagramCipher(key));
    const other = DatagramCipher.fromPassphrase('wrong');
    expect(other.open(sealed)).toBeNull();
    expect(other.stats.dropForged).toBe(1);
  });

  it('rejects stale datagrams (clock skew beyond the limit)', () => {
    let now = 1_000_000_000;
    const sender = new DatagramCipher(key, () => now);
    const receiverNow = now + MAX_SKEW_MS + 1;
    const receiver = new DatagramCipher(key, () => receiverNow);
    expect(receiver.open(sealOne(sender))).toBeNull();
    expect(receiver.stats.dropStale).toBe(1);
    now += 2;
    expect(receiver.open(sealOne(sender))).not.toBeNull();
  });

  it('rejects replays through the sliding window, accepts reordering inside it', () => {
    const sender = new DatagramCipher(key);
    const receiver = new DatagramCipher(key);
    const window = new ReplayWindow();
    const from = new NonceSource();
    const sealed = Array.from({ length: 10 }, () => sealOne(sender, from));
    for (const i of [0, 5, 3, 9, 1])
      expect(receiver.open(sealed[i] as Buffer, window)).not.toBeNull();
    for (const i of [0, 5, 3, 9, 1]) expect(receiver.open(sealed[i] as Buffer, window)).toBeNull();
    expect(receiver.stats.dropReplayed).toBe(5);
    // Another sender's salt on this window: rejected as foreign.
    expect(receiver.open(sealOne(sender, new NonceSource()), window)).toBeNull();
    expect(receiver.stats.dropReplayed).toBe(6);
  });

  it('forgets nothing inside the window and rejects everything older (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 3 * REPLAY_WINDOW }), { maxLength: 300 }),
        (counters) => {
          const window = new ReplayWindow();
          const nonce = new Uint8Array(24);
          const seen = new Set<number>();
          let highest = -1;
          for (const n of counters) {
            nonce.fill(0);
            Buffer.from(nonce.buffer).writeUIntLE(n, 18, 6);
            const expected = !seen.has(n) && (n > highest || highest - n < REPLAY_WINDOW);
            expect(window.accept(nonce)).toBe(expected);
            if (expected) {
              seen.add(n);
              highest = Math.max(highest, n);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('measures seal + open throughput (printed, not asserted)', () => {
    const cipher = new DatagramCipher(key);
    const from = new NonceSource();
    const payload = Buffer.alloc(1310, 7);
    const count = 4000;
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      const sealed = cipher.seal(payload, payload.length, from);
      if (cipher.open(sealed) === null) throw new Error('open failed');
    }
    const seconds = (performance.now() - started) / 1000;
    const mb = (count * payload.length) / 1e6;
    console.log(
      `secretbox seal+open: ${(mb / seconds).toFixed(1)} MB/s (${payload.length}-byte datagrams)`,
    );
  });
});
