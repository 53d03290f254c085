import { randomFillSync } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { CRYPT_HEADER_SIZE, NONCE_SIZE } from './key.js';

// CSPRNG bytes fetched 4 KiB at a time: one randomFillSync per datagram costs as much
// as the datagram's AES; batching keeps the nonces just as unpredictable.
const pool = Buffer.allocUnsafe(4096);
let poolAt = pool.length;

/** Writes `n` fresh random bytes at the start of `out` (kcp-go fills its nonce per datagram). */
export function randomNonce(out: Uint8Array, n: number): void {
  if (poolAt + n > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  // A byte loop: n is 16 (12 for GCM), and a subarray view per datagram cost more than it.
  for (let i = 0; i < n; i++) {
    out[i] = pool[poolAt + i] as number;
    // Never hand the same bytes out twice.
    pool[poolAt + i] = 0;
  }
  poolAt += n;
}

/**
 * Builds `nonce[16] | crc32 LE | payload` in a fresh buffer: the plaintext form every
 * CFB cipher, salsa20 and `none` share. The CRC is IEEE over the payload only.
 */
export function withCrcHeader(payload: Uint8Array, nonce: Uint8Array | undefined): Buffer {
  const out = Buffer.allocUnsafe(CRYPT_HEADER_SIZE + payload.length);
  if (nonce === undefined) randomNonce(out, NONCE_SIZE);
  else out.set(nonce.subarray(0, NONCE_SIZE), 0);
  out.set(payload, CRYPT_HEADER_SIZE);
  out.writeUInt32LE(crc32(payload), NONCE_SIZE);
  return out;
}

/** True when a decrypted datagram's CRC field matches its payload. */
export function crcMatches(plain: Buffer): boolean {
  return plain.readUInt32LE(NONCE_SIZE) === crc32(plain.subarray(CRYPT_HEADER_SIZE));
}
