import { codedError, type ErrorCodeTable } from '../../src/fd/errors.js';

/** Codes of a broken smux session or stream (transports/smux). */
export const SMUX_ERROR_CODES = {
  ERR_SMUX_VERSION: "a frame's version byte is not the session's (smux: ErrInvalidProtocol)",
  ERR_SMUX_COMMAND: 'an unknown command, or UPD on a version 1 session',
  ERR_SMUX_LENGTH: 'a length smux never writes: non-zero on SYN/FIN/NOP, not 8 on UPD',
  ERR_SMUX_FRAME_SIZE: 'a PSH frame longer than the configured bound',
  ERR_SMUX_FLOW_CONTROL:
    'a v2 UPD claiming more bytes consumed than were ever sent (smux: ErrConsumed)',
  ERR_SMUX_KEEPALIVE_TIMEOUT: 'nothing arrived within the keepalive timeout',
  ERR_SMUX_CLOSED: 'the session or stream was closed (locally, or its KCP session ended)',
} as const satisfies ErrorCodeTable;

export type SmuxErrorCode = keyof typeof SMUX_ERROR_CODES;

export class SmuxError extends codedError('SmuxError', SMUX_ERROR_CODES, 'smux') {}
