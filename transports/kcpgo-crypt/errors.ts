import { codedError, type ErrorCodeTable } from '../../src/fd/errors.js';

/** Why a kcp-go packet crypt could not be built (thrown only at construction; bad datagrams are counted and dropped). */
export const KCPGO_CRYPT_ERROR_CODES = {
  ERR_KCPGO_CRYPT_UNKNOWN: 'a crypt name kcp-go does not have',
  ERR_KCPGO_CRYPT_KEY: 'a key that cannot be derived or has the wrong size',
} as const satisfies ErrorCodeTable;

export type KcpgoCryptErrorCode = keyof typeof KCPGO_CRYPT_ERROR_CODES;

export class KcpgoCryptError extends codedError(
  'KcpgoCryptError',
  KCPGO_CRYPT_ERROR_CODES,
  'kcp-go crypt',
) {}
