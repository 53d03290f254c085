import { codedError, type ErrorCodeTable } from '../fd/errors.js';

/** Codes of the websocks apps (src/websocks): the server's target guard, the agent's front ends. */
export const WEBSOCKS_APP_ERROR_CODES = {
  ERR_WEBSOCKS_TARGET_DENIED: "a target on the server's own loopback or link-local addresses",
  ERR_SHADOWSOCKS_MALFORMED: 'a Shadowsocks target header that does not parse',
} as const satisfies ErrorCodeTable;

export type WebsocksAppErrorCode = keyof typeof WEBSOCKS_APP_ERROR_CODES;

export class WebsocksAppError extends codedError('WebsocksAppError', WEBSOCKS_APP_ERROR_CODES) {}
