import { codedError, type ErrorCodeTable } from '../../fd/errors.js';

/** Codes of the HAProxy PROXY protocol codec (src/protocols/proxy-protocol). */
export const PROXY_HEADER_ERROR_CODES = {
  ERR_PROXY_HEADER_INVALID:
    'a PROXY protocol v1/v2 header that does not parse, or values it cannot carry',
  ERR_PROXY_HEADER_TOO_LONG: 'a PROXY header longer than the protocol allows',
  ERR_PROXY_HEADER_TRUNCATED: 'the stream ended inside a PROXY header',
} as const satisfies ErrorCodeTable;

export type ProxyHeaderErrorCode = keyof typeof PROXY_HEADER_ERROR_CODES;

export class ProxyHeaderError extends codedError('ProxyHeaderError', PROXY_HEADER_ERROR_CODES) {}
