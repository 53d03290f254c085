import { codedError, type ErrorCodeTable } from '../../src/fd/errors.js';

/** Codes of the kcptun app's transport (transports/kcptun). */
export const KCPTUN_ERROR_CODES = {
  ERR_KCPTUN_CONFIG: 'a flag, JSON field or address option with a value kcptun would not take',
  ERR_KCPTUN_REPLACED:
    "kcp-go's listener rule: a new conv with sn 0 from the same address replaced the session",
} as const satisfies ErrorCodeTable;

export type KcptunErrorCode = keyof typeof KCPTUN_ERROR_CODES;

export class KcptunError extends codedError('KcptunError', KCPTUN_ERROR_CODES, 'kcptun') {}
