import { type ErrorCode, VproxyError } from '../../src/fd/errors.js';

/**
 * Module-owned reasons (src/fd/errors.ts is shared and not extended from here); the base
 * `code` is the generic one of the same meaning.
 */
export type KcptunErrorReason =
  /** A flag, JSON field or address option with a value kcptun would not take. */
  | 'ERR_KCPTUN_CONFIG'
  /** kcp-go's listener rule: a new conv with sn 0 from the same address replaced the session. */
  | 'ERR_KCPTUN_REPLACED';

const BASE: Record<KcptunErrorReason, ErrorCode> = {
  ERR_KCPTUN_CONFIG: 'ERR_OPTION_INVALID',
  ERR_KCPTUN_REPLACED: 'ERR_CLOSED',
};

export class KcptunError extends VproxyError {
  readonly reason: KcptunErrorReason;

  constructor(reason: KcptunErrorReason, message: string) {
    super(BASE[reason], `kcptun: ${message}`);
    this.name = 'KcptunError';
    this.reason = reason;
  }
}
