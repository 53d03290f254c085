import { codedError, type ErrorCodeTable } from '../../src/fd/errors.js';

/** Codes of the WebSocket layer (transports/ws). */
export const WS_ERROR_CODES = {
  ERR_WS_HANDSHAKE: 'the WebSocket upgrade was refused or malformed',
  ERR_WS_PROTOCOL: 'a frame the WebSocket protocol does not allow (RFC 6455)',
  ERR_WS_CLOSED: 'the peer sent a close frame',
  ERR_WS_PEER_DEAD: 'the peer did not answer pings within the keepalive timeout',
} as const satisfies ErrorCodeTable;

export type WsErrorCode = keyof typeof WS_ERROR_CODES;

export class WsError extends codedError('WsError', WS_ERROR_CODES) {}
