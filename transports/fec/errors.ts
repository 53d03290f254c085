import { VproxyError } from '../../src/fd/errors.js';

/** Module-owned reason; the base code is the generic option error (src/fd is shared). */
export type FecErrorReason = 'ERR_FEC_CONFIG';

/** Thrown only for a bad shard configuration; bad packets are counted and dropped. */
export class FecError extends VproxyError {
  readonly reason: FecErrorReason;

  constructor(reason: FecErrorReason, message: string) {
    super('ERR_OPTION_INVALID', `fec: ${message}`);
    this.name = 'FecError';
    this.reason = reason;
  }
}

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
