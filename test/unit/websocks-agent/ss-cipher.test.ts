import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  SS_METHODS,
  SsDecryptor,
  SsEncryptor,
  ssMasterKey,
} from '../../../src/websocks/ss-cipher.js';
import { fcParams } from '../../helpers/fc.js';

describe('shadowsocks ciphers', () => {
  it('EVP_BytesToKey(MD5) gives the key every client derives', () => {
    // md5("barfoo!") ‖ md5(md5("barfoo!") ‖ "barfoo!"), as OpenSSL computes it.
    expect(ssMasterKey('barfoo!').toString('hex')).toBe(
      'b3adc47839e047eb228870526dc8fc30b347287ffca3045dcea06b3fdf090acb',
    );
    expect(ssMasterKey('x')).toHaveLength(32);
  });

  for (const method of SS_METHODS) {
    it(`${method}: any stream, split anywhere, decrypts to itself`, () => {
      const key = ssMasterKey('pw');
      fc.assert(
        fc.property(
          fc.array(fc.uint8Array({ maxLength: 40_000 }), { maxLength: 4 }),
          fc.array(fc.integer({ min: 1, max: 5_000 }), { minLength: 1, maxLength: 8 }),
          (writes, cuts) => {
            const enc = new SsEncryptor(method, key);
            const wire = Buffer.concat(writes.map((w) => enc.encrypt(Buffer.from(w))));
            const dec = new SsDecryptor(method, key);
            const out: Buffer[] = [];
            let off = 0;
            for (let i = 0; off < wire.length; i++) {
              const n = cuts[i % cuts.length] as number;
              out.push(dec.decrypt(wire.subarray(off, off + n)));
              off += n;
            }
            expect(
              Buffer.concat(out).equals(Buffer.concat(writes.map((w) => Buffer.from(w)))),
            ).toBe(true);
          },
        ),
        fcParams({ numRuns: 40 }),
      );
    });
  }

  for (const method of ['chacha20-ietf-poly1305', 'aes-256-gcm'] as const) {
    it(`${method}: a flipped bit or the wrong password is refused, never decrypted`, () => {
      const enc = new SsEncryptor(method, ssMasterKey('pw'));
      const wire = enc.encrypt(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
      const flipped = Buffer.from(wire);
      flipped[40] = (flipped[40] as number) ^ 1;
      expect(() => new SsDecryptor(method, ssMasterKey('pw')).decrypt(flipped)).toThrow(
        /failed authentication/,
      );
      expect(() => new SsDecryptor(method, ssMasterKey('other')).decrypt(wire)).toThrow(
        /failed authentication/,
      );
    });
  }
});
