/**
 * kcp-go's packet crypt (the outermost layer of a kcptun link), one PacketCrypt per
 * `--crypt` name. Pure per-datagram codecs: no sockets, no timers.
 */
import { aesCfb, identity, salsa20 } from './ciphers.js';
import { CrcFramedCrypt } from './crc-framed.js';
import { KcpgoCryptError } from './errors.js';
import { AesGcmCrypt } from './gcm.js';
import { KEY_BYTES } from './key.js';
import { NullCrypt } from './plain.js';
import type { PacketCrypt } from './types.js';

export { KcpgoCryptError, type KcpgoCryptErrorCode } from './errors.js';
export { CFB_IV, CRYPT_HEADER_SIZE, deriveKey, NONCE_SIZE } from './key.js';
export type { PacketCrypt, PacketCryptStats } from './types.js';

/** The `--crypt` names this module implements. */
export const CRYPT_NAMES = [
  'aes',
  'aes-128',
  'aes-192',
  'salsa20',
  'none',
  'null',
  'aes-128-gcm',
] as const;
export type CryptName = (typeof CRYPT_NAMES)[number];

export function isCryptName(name: string): name is CryptName {
  return (CRYPT_NAMES as readonly string[]).includes(name);
}

/**
 * Builds the packet crypt kcptun uses for `--crypt name` with `key` (the 32-byte
 * output of deriveKey; each cipher takes the prefix kcptun takes).
 */
export function createPacketCrypt(name: string, key: Uint8Array): PacketCrypt {
  if (!isCryptName(name)) {
    throw new KcpgoCryptError(
      'ERR_KCPGO_CRYPT_UNKNOWN',
      `unknown crypt "${name}" (known: ${CRYPT_NAMES.join(', ')})`,
    );
  }
  if (key.length < KEY_BYTES && name !== 'none' && name !== 'null') {
    throw new KcpgoCryptError(
      'ERR_KCPGO_CRYPT_KEY',
      `key must be the ${KEY_BYTES}-byte derived key, got ${key.length} bytes`,
    );
  }
  const k = Buffer.from(key);
  switch (name) {
    case 'aes':
      return new CrcFramedCrypt(name, aesCfb(k.subarray(0, 32)));
    case 'aes-128':
      return new CrcFramedCrypt(name, aesCfb(k.subarray(0, 16)));
    case 'aes-192':
      return new CrcFramedCrypt(name, aesCfb(k.subarray(0, 24)));
    case 'salsa20':
      return new CrcFramedCrypt(name, salsa20(k));
    case 'none':
      return new CrcFramedCrypt(name, identity());
    case 'null':
      return new NullCrypt();
    case 'aes-128-gcm':
      return new AesGcmCrypt(k);
  }
}
