import { codedError, type ErrorCodeTable } from '../../fd/errors.js';

/** Codes of the RESP codec (src/protocols/resp). */
export const RESP_ERROR_CODES = {
  ERR_RESP_INVALID: 'bytes that are not a RESP request, or one over the size limits',
} as const satisfies ErrorCodeTable;

export type RespErrorCode = keyof typeof RESP_ERROR_CODES;

export class RespError extends codedError('RespError', RESP_ERROR_CODES) {}
