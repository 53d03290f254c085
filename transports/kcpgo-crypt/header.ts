import { randomFillSync } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { CRYPT_HEADER_SIZE, NONCE_SIZE } from './key.js';

/**
 * Builds `nonce[16] | crc32 LE | payload` in a fresh buffer: the plaintext form every
 * CFB cipher, salsa20 and `none` share. The CRC is IEEE over the payload only.
 */
export function withCrcHeader(payload: Uint8Array, nonce: Uint8Array | undefined): Buffer {
  const out = Buffer.allocUnsafe(CRYPT_HEADER_SIZE + payload.length);
  if (nonce === undefined) randomFillSync(out, 0, NONCE_SIZE);
  else out.set(nonce.subarray(0, NONCE_SIZE), 0);
  out.set(payload, CRYPT_HEADER_SIZE);
  out.writeUInt32LE(crc32(payload), NONCE_SIZE);
  return out;
}

/** True when a decrypted datagram's CRC field matches its payload. */
export function crcMatches(plain: Buffer): boolean {
  return plain.readUInt32LE(NONCE_SIZE) === crc32(plain.subarray(CRYPT_HEADER_SIZE));
}
