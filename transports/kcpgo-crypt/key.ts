import { pbkdf2Sync } from 'node:crypto';

/** kcp-go's constants (crypt.go); kcptun derives every cipher's key the same way. */
export const KDF_SALT = 'kcp-go';
export const KDF_ITERATIONS = 4096;
export const KEY_BYTES = 32;

/**
 * kcp-go's fixed CFB IV. The per-datagram randomness comes from the 16-byte nonce
 * that is encrypted as the first block, so a fixed IV does not repeat keystreams.
 */
export const CFB_IV: Readonly<Buffer> = Buffer.from([
  167, 115, 79, 156, 18, 172, 27, 1, 164, 21, 242, 193, 252, 120, 230, 107,
]);

/** Nonce bytes and CRC bytes in front of every CFB / salsa20 / `none` datagram. */
export const NONCE_SIZE = 16;
export const CRC_SIZE = 4;
export const CRYPT_HEADER_SIZE = NONCE_SIZE + CRC_SIZE;

// PBKDF2 with 4096 rounds costs milliseconds: derive once per passphrase (bounded cache).
const cache = new Map<string, Buffer>();
const CACHE_MAX = 32;

/** kcptun's key: PBKDF2-HMAC-SHA1(passphrase, "kcp-go", 4096, 32). Ciphers take a prefix. */
export function deriveKey(passphrase: string): Buffer {
  let key = cache.get(passphrase);
  if (key === undefined) {
    key = pbkdf2Sync(passphrase, KDF_SALT, KDF_ITERATIONS, KEY_BYTES, 'sha1');
    if (cache.size >= CACHE_MAX) {
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
    cache.set(passphrase, key);
  }
  return Buffer.from(key);
}
