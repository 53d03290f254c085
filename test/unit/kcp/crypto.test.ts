import { createCipheriv, createHmac } from 'node:crypto';
import fc from 'fast-check';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import {
  DatagramCipher,
  deriveKey,
  KCP_CRYPTS,
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

// The NaCl secretbox test vector ("Cryptography in NaCl", D. J. Bernstein,
// §9-10; libsodium test/default/secretbox.c): firstkey, the 24-byte nonce and
// the 131-byte message give this tag ‖ ciphertext. Published bytes, not ours.
const NACL_KEY = Buffer.from(
  '1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389',
  'hex',
);
const NACL_NONCE = Buffer.from('69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37', 'hex');
const NACL_MESSAGE = Buffer.from(
  'be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffc' +
    'e5ecbaaf33bd751a1ac728d45e6c61296cdc3c01233561f41db66cce314adb31' +
    '0e3be8250c46f06dceea3a7fa1348057e2f6556ad6b1318a024a838f21af1fde' +
    '048977eb48f59ffd4924ca1c60902e52f0a089bc76897040e082f93776384864' +
    '5e0705',
  'hex',
);
const NACL_BOX = Buffer.from(
  'f3ffc7703f9400e52a7dfb4b3d3305d98e993b9f48681273c29650ba32fc76ce' +
    '48332ea7164d96a4476fb8c531a1186ac0dfc17c98dce87b4da7f011ec48c972' +
    '71d2c20f9b928fe2270d6fb863d51738b48eeee314a7cc8ab932164548e526ae' +
    '90224368517acfeabd6bb3732bc0e9da99832b61ca01b6de56244a9e88d5f9b3' +
    '7973f622a43d14a6599b1f654cb45a74e355a5',
  'hex',
);

/** A NonceSource and clock that make seal() use exactly `nonce` (salt 12 ‖ time 6 LE ‖ counter 6 LE). */
function fixedNonce(nonce: Buffer): { from: NonceSource; clock: () => number } {
  const from = new NonceSource();
  from.salt.set(nonce.subarray(0, 12));
  from.counter = nonce.readUIntLE(18, 6);
  const time = nonce.readUIntLE(12, 6);
  return { from, clock: () => time };
}

describe('datagram encryption: fixed vectors', () => {
  it('seals the published NaCl secretbox vector byte for byte: nonce ‖ tag ‖ ciphertext', () => {
    const { from, clock } = fixedNonce(NACL_NONCE);
    const cipher = new DatagramCipher(NACL_KEY, clock);
    const sealed = cipher.seal(NACL_MESSAGE, NACL_MESSAGE.length, from);
    expect(sealed.toString('hex')).toBe(Buffer.concat([NACL_NONCE, NACL_BOX]).toString('hex'));
    // And opens it back (same clock, so the timestamp is fresh).
    expect(Buffer.from(cipher.open(sealed) ?? []).toString('hex')).toBe(
      NACL_MESSAGE.toString('hex'),
    );
  });

  it('equals tweetnacl.secretbox under the nonce it writes, for any data (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 24, maxLength: 24 }),
        fc.uint8Array({ maxLength: 1400 }),
        (k, n, data) => {
          const nonce = Buffer.from(n);
          // The time field is taken modulo 2^48 and compared with the clock: any value works.
          const { from, clock } = fixedNonce(nonce);
          const sealed = new DatagramCipher(k, clock).seal(data, data.length, from);
          const expected = nacl.secretbox(data, nonce, k);
          expect(sealed.subarray(0, 24).toString('hex')).toBe(nonce.toString('hex'));
          expect(sealed.subarray(24).toString('hex')).toBe(Buffer.from(expected).toString('hex'));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('never sends the plaintext: two seals of the same data differ past the nonce', () => {
    const cipher = new DatagramCipher(key);
    const from = new NonceSource();
    const data = Buffer.alloc(64, 0x41);
    const a = cipher.seal(data, data.length, from);
    const b = cipher.seal(data, data.length, from);
    expect(a.subarray(24).equals(b.subarray(24))).toBe(false);
    expect(a.includes(data.subarray(0, 16))).toBe(false);
  });
});

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

describe('datagram encryption: node:crypto AEADs (crypt=)', () => {
  const AEADS = KCP_CRYPTS.filter((c) => c !== 'secretbox');

  it.each(AEADS)('%s: is the documented construction, byte for byte', (crypt) => {
    const nonce = Buffer.from('000102030405060708090a0b' + '102030405060' + '070000000000', 'hex');
    const { from, clock } = fixedNonce(nonce);
    const sealed = new DatagramCipher(key, clock, crypt).seal(plain, plain.length, from);
    // Recomputed here from the description in crypto.ts, independently of its code.
    const sessionKey = createHmac('sha256', key)
      .update(nonce.subarray(0, 12))
      .digest()
      .subarray(0, crypt === 'aes-128-gcm' ? 16 : 32);
    const iv = Buffer.concat([nonce.subarray(18, 24), nonce.subarray(12, 18)]);
    const c = createCipheriv(crypt as 'aes-128-gcm', sessionKey, iv, { authTagLength: 16 });
    c.setAAD(nonce, { plaintextLength: plain.length });
    const body = Buffer.concat([c.update(plain), c.final()]);
    const want = Buffer.concat([nonce, body, c.getAuthTag()]);
    expect(sealed.toString('hex')).toBe(want.toString('hex'));
  });

  it.each(AEADS)('%s: round-trips with the same 40-byte overhead, replay-checked', (crypt) => {
    const tx = new DatagramCipher(key, Date.now, crypt);
    const rx = new DatagramCipher(key, Date.now, crypt);
    const from = new NonceSource();
    const replay = new ReplayWindow();
    for (const len of [0, 1, 100, 1310]) {
      const data = Buffer.alloc(len, len & 0xff);
      const sealed = tx.seal(data, len, from);
      expect(sealed.length).toBe(len + SEAL_OVERHEAD);
      expect(Buffer.from(rx.open(sealed, replay) ?? []).equals(data)).toBe(true);
      expect(rx.open(sealed, replay)).toBeNull();
    }
    expect(rx.stats.dropReplayed).toBe(4);
  });

  it.each(AEADS)('%s: any modified byte, the clear nonce included, is refused', (crypt) => {
    const tx = new DatagramCipher(key, Date.now, crypt);
    const rx = new DatagramCipher(key, Date.now, crypt);
    const sealed = sealOne(tx);
    fc.assert(
      fc.property(fc.nat(sealed.length - 1), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const bad = Buffer.from(sealed);
        bad[at] = (bad[at] as number) ^ x;
        expect(rx.open(bad)).toBeNull();
      }),
    );
    expect(rx.open(sealed)?.length).toBe(plain.length);
  });

  it.each(AEADS)('%s: garbage, a wrong key and a stale clock are dropped and counted', (crypt) => {
    const rx = new DatagramCipher(key, Date.now, crypt);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1500 }), (bytes) => {
        expect(rx.open(bytes)).toBeNull();
      }),
    );
    expect(rx.open(sealOne(DatagramCipher.fromPassphrase('wrong', undefined, crypt)))).toBeNull();
    const old = new DatagramCipher(key, () => Date.now() - 2 * MAX_SKEW_MS, crypt);
    expect(rx.open(sealOne(old))).toBeNull();
    expect(rx.stats.dropStale).toBe(1);
    expect(rx.stats.sealed + rx.stats.opened).toBe(0);
  });

  it('the three ciphers do not open each other, and two sessions never share a keystream', () => {
    for (const a of KCP_CRYPTS) {
      for (const b of KCP_CRYPTS) {
        const opened = new DatagramCipher(key, Date.now, b).open(
          sealOne(new DatagramCipher(key, Date.now, a)),
        );
        expect(opened === null).toBe(a !== b);
      }
    }
    // Same time, counter and plaintext from two sessions: different ciphertext and tag.
    const cipher = new DatagramCipher(key, () => 1000, 'aes-128-gcm');
    const one = sealOne(cipher, new NonceSource());
    const two = sealOne(cipher, new NonceSource());
    expect(one.subarray(24).equals(two.subarray(24))).toBe(false);
  });
});
