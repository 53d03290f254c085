import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isVproxyError } from '../../../src/fd/errors.js';
import { xorInto } from '../../../transports/kcpgo-crypt/ciphers.js';
import {
  CFB_IV,
  CRYPT_NAMES,
  createPacketCrypt,
  deriveKey,
  KcpgoCryptError,
} from '../../../transports/kcpgo-crypt/index.js';
import { effectiveCrypt, loadFixtures } from './fixtures.js';

const fixtures = loadFixtures();
const key = deriveKey('testkey');

describe('kcp-go packet crypt against captured kcptun datagrams', () => {
  it('derives the key with PBKDF2-SHA1(pass, "kcp-go", 4096, 32) and keeps the fixed IV', () => {
    expect(key.length).toBe(32);
    expect(CFB_IV.toString('hex')).toBe('a7734f9c12ac1b01a415f2c1fc78e66b');
    // Deterministic: the same passphrase gives the same key (cache or not).
    expect(deriveKey('testkey').equals(key)).toBe(true);
  });

  for (const f of fixtures) {
    const crypt = effectiveCrypt(f);
    it(`${f.name}: every datagram opens, the CRC verifies, and re-sealing gives the same bytes`, () => {
      const c = createPacketCrypt(crypt, key);
      for (const d of f.datagrams) {
        const plain = c.open(d.bytes);
        expect(plain, `${d.dir} ${d.bytes.toString('hex').slice(0, 40)}`).not.toBeNull();
        if (plain === null) continue;
        if (f.flags.ds > 0) {
          // Inside the crypt: an FEC header whose flag is 0xf1 (data) or 0xf2 (parity).
          expect([0xf1, 0xf2]).toContain(plain.readUInt16LE(4));
        } else {
          // FEC off: the KCP segment header itself (cmd 81..84 at offset 4).
          expect(plain[4]).toBeGreaterThanOrEqual(81);
          expect(plain[4]).toBeLessThanOrEqual(84);
        }
        expect(c.seal(plain, c.lastNonce()).equals(d.bytes)).toBe(true);
      }
      expect(c.stats.checksumErrors).toBe(0);
      expect(c.stats.opened).toBe(f.datagrams.length);
    });
  }

  it('salsa20 leaves the first 8 nonce bytes in the clear', () => {
    const f = fixtures.find((x) => x.flags.crypt === 'salsa20');
    expect(f).toBeDefined();
    if (f === undefined) return;
    const c = createPacketCrypt('salsa20', key);
    const d = f.datagrams[0]?.bytes ?? Buffer.alloc(0);
    expect(c.open(d)).not.toBeNull();
    expect(c.lastNonce().subarray(0, 8).equals(d.subarray(0, 8))).toBe(true);
    expect(c.lastNonce().subarray(8).equals(d.subarray(8, 16))).toBe(false);
  });

  it('a wrong key fails the CRC on every datagram and counts it', () => {
    const f = fixtures.find((x) => x.flags.crypt === 'aes');
    if (f === undefined) throw new Error('no aes fixture');
    const c = createPacketCrypt('aes', deriveKey('not the key'));
    for (const d of f.datagrams) expect(c.open(d.bytes)).toBeNull();
    expect(c.stats.checksumErrors).toBe(f.datagrams.length);
  });
});

describe('kcp-go packet crypt round trips and bounds', () => {
  it.each(CRYPT_NAMES)('%s: seal then open gives the payload back', (name) => {
    const c = createPacketCrypt(name, key);
    for (const len of [0, 1, 15, 16, 17, 31, 100, 1350]) {
      const p = Buffer.alloc(len, len & 0xff);
      const d = c.seal(p);
      expect(d.length).toBe(len + c.overhead);
      expect(c.open(d)?.equals(p)).toBe(true);
    }
  });

  it.each(CRYPT_NAMES)(
    '%s: sealFramed (built in place, one datagram after another) opens to the payload',
    (name) => {
      const c = createPacketCrypt(name, key);
      // A run of datagrams through one crypt: aes continues one CFB stream across them.
      fc.assert(
        fc.property(fc.array(fc.uint8Array({ maxLength: 1400 }), { maxLength: 20 }), (ps) => {
          const sent: Buffer[] = [];
          for (const p of ps) {
            const buf = Buffer.alloc(c.headerSize + p.length + c.tailroom, 0xee);
            buf.set(p, c.headerSize);
            const d = Buffer.from(c.sealFramed(buf, p.length));
            expect(d.length).toBe(p.length + c.overhead);
            sent.push(d);
          }
          // Opened by a fresh crypt, in any order: each datagram stands alone.
          const r = createPacketCrypt(name, key);
          for (let i = sent.length - 1; i >= 0; i--) {
            expect(r.open(sent[i] as Buffer)?.equals(ps[i] as Uint8Array)).toBe(true);
          }
        }),
        { numRuns: 50 },
      );
    },
  );

  it('none: no copies: open returns a view of the datagram, sealFramed the built buffer', () => {
    const c = createPacketCrypt('none', key);
    expect(c.tailroom).toBe(0);
    const buf = Buffer.alloc(c.headerSize + 40);
    buf.fill(7, c.headerSize);
    const d = c.sealFramed(buf, 40);
    // Built exactly to size: the datagram is the buffer itself.
    expect(d).toBe(buf);
    const wire = Buffer.from(d);
    const before = Buffer.from(wire);
    const plain = c.open(wire);
    expect(plain?.buffer).toBe(wire.buffer);
    expect(plain?.byteOffset).toBe(wire.byteOffset + c.headerSize);
    expect(plain?.equals(Buffer.alloc(40, 7))).toBe(true);
    expect(wire.equals(before)).toBe(true);
    // The nonce is copied out on demand and stays when the datagram's bytes change later.
    const nonce = c.lastNonce();
    expect(nonce.equals(wire.subarray(0, 16))).toBe(true);
    wire.fill(0);
    expect(nonce.equals(before.subarray(0, 16))).toBe(true);
  });

  it('aes sealFramed: no two datagrams of the same payload look alike (fresh nonces)', () => {
    const c = createPacketCrypt('aes', key);
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const buf = Buffer.alloc(c.headerSize + 32 + c.tailroom);
      seen.add(c.sealFramed(buf, 32).toString('hex'));
    }
    expect(seen.size).toBe(100);
  });

  it('aes-128-gcm is nonce[12] | AES-GCM ciphertext | tag[16] with the key prefix', () => {
    const c = createPacketCrypt('aes-128-gcm', key);
    const nonce = Buffer.alloc(12, 7);
    const d = c.seal(Buffer.from('hello'), nonce);
    expect(d.subarray(0, 12).equals(nonce)).toBe(true);
    expect(d.length).toBe(12 + 5 + 16);
    d[13] = (d[13] ?? 0) ^ 1;
    expect(c.open(d)).toBeNull();
    expect(c.stats.checksumErrors).toBe(1);
  });

  it('rejects unknown names and short keys with typed errors', () => {
    expect(() => createPacketCrypt('rot13', key)).toThrow(KcpgoCryptError);
    try {
      createPacketCrypt('aes', key.subarray(0, 16));
    } catch (err) {
      expect(isVproxyError(err, 'ERR_KCPGO_CRYPT_KEY')).toBe(true);
      expect((err as KcpgoCryptError).code).toBe('ERR_KCPGO_CRYPT_KEY');
    }
  });

  it.each(CRYPT_NAMES)('%s: garbage never throws; it is dropped and counted', (name) => {
    const c = createPacketCrypt(name, key);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1500 }), (bytes) => {
        const before = c.stats.checksumErrors + c.stats.shortDatagrams + c.stats.opened;
        c.open(bytes);
        expect(c.stats.checksumErrors + c.stats.shortDatagrams + c.stats.opened).toBe(before + 1);
      }),
      { numRuns: 300 },
    );
  });
});

describe('xorInto', () => {
  it('XORs every byte, aligned or not, any length', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 200 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 3 }),
        (data, outShift, dataShift) => {
          const outBuf = new Uint8Array(data.length + 8).map((_, i) => (i * 37) & 0xff);
          const out = outBuf.subarray(outShift, outShift + data.length + 2);
          const expected = Uint8Array.from(out, (b, i) =>
            i < data.length ? b ^ (data[i] ?? 0) : b,
          );
          const shifted = new Uint8Array(data.length + 4);
          shifted.set(data, dataShift);
          xorInto(out, shifted.subarray(dataShift, dataShift + data.length));
          expect(out).toEqual(expected);
        },
      ),
      { numRuns: 500 },
    );
  });
});
