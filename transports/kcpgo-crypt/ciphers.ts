import { createCipheriv, createDecipheriv } from 'node:crypto';
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
  const algorithm = `aes-${key.length * 8}-cfb`;
  return {
    // A cipher object per datagram: Node cannot rewind an IV, and creating one costs
    // about a microsecond, small beside the datagram's own AES work.
    encrypt: (plain) => createCipheriv(algorithm, key, CFB_IV).update(plain),
    decrypt: (datagram) => createDecipheriv(algorithm, key, CFB_IV).update(datagram),
  };
}

/** `none`: kcp-go's NoneBlockCrypt copies bytes; the nonce and CRC header stay. */
export function identity(): DatagramCipher {
  return {
    encrypt: (plain) => plain,
    decrypt: (datagram) => Buffer.from(datagram),
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
    encrypt: xor,
    decrypt: (datagram) => xor(Buffer.from(datagram)),
  };
}
