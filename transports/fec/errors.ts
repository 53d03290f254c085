import { codedError, type ErrorCodeTable } from '../../src/fd/errors.js';

/** Codes of the FEC layer (transports/fec): thrown only for a bad shard configuration; bad packets are counted and dropped. */
export const FEC_ERROR_CODES = {
  ERR_FEC_CONFIG: 'shard counts outside 1 ≤ data, 1 ≤ parity, data + parity ≤ 256',
} as const satisfies ErrorCodeTable;

export type FecErrorCode = keyof typeof FEC_ERROR_CODES;

export class FecError extends codedError('FecError', FEC_ERROR_CODES, 'fec') {}

/** Validates kcptun's --datashard / --parityshard (Reed-Solomon over GF(2^8): ≤ 256 shards). */
export function checkShards(dataShards: number, parityShards: number): void {
  if (!Number.isInteger(dataShards) || !Number.isInteger(parityShards)) {
    throw new FecError('ERR_FEC_CONFIG', 'shard counts must be integers');
  }
  if (dataShards < 1 || parityShards < 1 || dataShards + parityShards > 256) {
    throw new FecError(
      'ERR_FEC_CONFIG',
      `need 1 ≤ data, 1 ≤ parity, data + parity ≤ 256 (got ${dataShards}/${parityShards}); 0/0 means no FEC layer at all`,
    );
  }
}
