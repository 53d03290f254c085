import { type Cipher, createCipheriv } from 'node:crypto';
import nacl from 'tweetnacl';
import type { DatagramCipher } from './crc-framed.js';
import { CFB_IV } from './key.js';

/**
 * AES in CFB-128 mode with kcp-go's fixed IV over the whole datagram (nonce included).
 * kcp-go's hand-unrolled encrypt16 is textbook CFB: XOR with E(prev ciphertext block),
 * the trailing partial block XORed with the next keystream block's prefix — exactly
 * what OpenSSL's aes-*-cfb stream mode does (checked against captured datagrams).
 */
export function aesCfb(key: Buffer): DatagramCipher {
  const bits = key.length * 8;
  const cfb = `aes-${bits}-cfb`;
  // CFB decryption needs no chaining: keystream block i is E(ciphertext block i − 1)
  // (E(IV) for the first), so one call of a long-lived ECB cipher computes the whole
  // keystream. That is about 40 % cheaper than a new CFB decipher per datagram.
  const ecb = createCipheriv(`aes-${bits}-ecb`, key, null);
  ecb.setAutoPadding(false);
  let scratch = Buffer.allocUnsafe(2048);
  // Encryption of datagrams built in place runs on one long-lived CFB stream, never
  // rewound to the IV: each datagram is padded to a whole block, so the next one starts
  // on a block boundary with some earlier ciphertext block S in the shift register
  // instead of the IV. Its first ciphertext block is then nonce ⊕ E(S) instead of
  // nonce ⊕ E(IV): just as random for a random nonce, and every later block chains from
  // it exactly as the receiver's CFB (which starts at the IV) expects. The receiver
  // decrypts the first block to a different random 16 bytes — which kcp-go never reads.
  let stream: Cipher | null = null;
  return {
    tailroom: 16,
    // With a given nonce (tests reproducing kcptun's bytes): a CFB cipher from the IV.
    encrypt: (plain) => createCipheriv(cfb, key, CFB_IV).update(plain),
    encryptFramed: (buf, len) => {
      stream ??= createCipheriv(cfb, key, CFB_IV);
      const padded = (len + 15) & ~15;
      buf.fill(0, len, padded);
      return stream.update(buf.subarray(0, padded)).subarray(0, len);
    },
    decrypt: (datagram) => {
      if (datagram.length === 0) return Buffer.alloc(0);
      const blocks = Math.ceil(datagram.length / 16);
      if (scratch.length < blocks * 16) scratch = Buffer.allocUnsafe(blocks * 16);
      // ECB copies its output out: the input buffer is reused from datagram to datagram.
      const src = scratch.subarray(0, blocks * 16);
      src.set(CFB_IV, 0);
      src.set(datagram.subarray(0, (blocks - 1) * 16), 16);
      const out = ecb.update(src);
      xorInto(out, datagram);
      return out.subarray(0, datagram.length);
    },
  };
}

/**
 * out[i] ^= data[i] for i < data.length, four bytes a step where both are 4-byte aligned
 * (a received datagram and OpenSSL's output are, in practice): the byte loop was about
 * 40 % of the receiver's decrypt time.
 */
export function xorInto(out: Uint8Array, data: Uint8Array): void {
  const n = data.length;
  let i = 0;
  if ((out.byteOffset & 3) === 0 && (data.byteOffset & 3) === 0 && n >= 16) {
    const words = n >>> 2;
    const o = new Int32Array(out.buffer, out.byteOffset, words);
    const d = new Int32Array(data.buffer, data.byteOffset, words);
    for (let w = 0; w < words; w++) o[w] = (o[w] as number) ^ (d[w] as number);
    i = words << 2;
  }
  for (; i < n; i++) out[i] = (out[i] as number) ^ (data[i] as number);
}

/**
 * `none`: the nonce and CRC header stay, nothing is encrypted. kcp-go's NoneBlockCrypt
 * copies bytes; here both directions are views: the sender's buffer is built exactly to
 * size (no tailroom), and a received datagram is Node's own fresh buffer that nothing
 * else writes to. A copy per datagram was ~1.4 KB of churn per received packet.
 */
export function identity(): DatagramCipher {
  return {
    tailroom: 0,
    encrypt: (plain) => plain,
    encryptFramed: (buf, len) => (len === buf.length ? buf : buf.subarray(0, len)),
    decrypt: (datagram) =>
      Buffer.isBuffer(datagram)
        ? datagram
        : Buffer.from(datagram.buffer, datagram.byteOffset, datagram.byteLength),
  };
}

/** tweetnacl's Salsa20 XOR (present at runtime, missing from its typings). */
interface NaclSalsa {
  crypto_stream_salsa20_xor(
    c: Uint8Array,
    cpos: number,
    m: Uint8Array,
    mpos: number,
    b: number,
    n: Uint8Array,
    k: Uint8Array,
  ): number;
}
const salsa = (nacl as unknown as { lowlevel: NaclSalsa }).lowlevel;

/** Bytes of the datagram that travel in the clear as salsa20's 64-bit nonce. */
const SALSA_NONCE = 8;

/**
 * salsa20 (kcp-go's salsa20BlockCrypt): the first 8 nonce bytes stay in the clear and
 * are the Salsa20 nonce (block counter from 0); everything after them is XORed with
 * the keystream — the other 8 nonce bytes, the CRC and the payload.
 */
export function salsa20(key: Buffer): DatagramCipher {
  const k = new Uint8Array(key.subarray(0, 32));
  const xor = (buf: Buffer): Buffer => {
    const nonce = buf.subarray(0, SALSA_NONCE);
    salsa.crypto_stream_salsa20_xor(
      buf,
      SALSA_NONCE,
      buf,
      SALSA_NONCE,
      buf.length - SALSA_NONCE,
      nonce,
      k,
    );
    return buf;
  };
  return {
    tailroom: 0,
    encrypt: xor,
    encryptFramed: (buf, len) => xor(buf.subarray(0, len)),
    decrypt: (datagram) => xor(Buffer.from(datagram)),
  };
}
