import { type ErrorCode, VproxyError } from '../../src/fd/errors.js';

/**
 * Module-owned reasons for a broken smux stream. The base `code` is the generic mux
 * code of the same meaning (src/fd/errors.ts is shared and not extended from here).
 */
export type SmuxErrorReason =
  /** A frame's version byte is not the session's (smux: ErrInvalidProtocol). */
  | 'ERR_SMUX_VERSION'
  /** An unknown command, or UPD on a version 1 session. */
  | 'ERR_SMUX_COMMAND'
  /** A length that smux never writes: non-zero on SYN/FIN/NOP, not 8 on UPD. */
  | 'ERR_SMUX_LENGTH'
  /** A PSH frame longer than the configured bound. */
  | 'ERR_SMUX_FRAME_SIZE'
  /** A v2 UPD claiming more bytes consumed than were ever sent (smux: ErrConsumed). */
  | 'ERR_SMUX_FLOW_CONTROL'
  /** Nothing arrived within the keepalive timeout. */
  | 'ERR_SMUX_KEEPALIVE_TIMEOUT'
  /** The session was closed locally. */
  | 'ERR_SMUX_CLOSED';

const BASE: Record<SmuxErrorReason, ErrorCode> = {
  ERR_SMUX_VERSION: 'ERR_MUX_PROTOCOL',
  ERR_SMUX_COMMAND: 'ERR_MUX_PROTOCOL',
  ERR_SMUX_LENGTH: 'ERR_MUX_PROTOCOL',
  ERR_SMUX_FRAME_SIZE: 'ERR_MUX_FRAME_SIZE',
  ERR_SMUX_FLOW_CONTROL: 'ERR_MUX_FLOW_CONTROL',
  ERR_SMUX_KEEPALIVE_TIMEOUT: 'ERR_MUX_KEEPALIVE_TIMEOUT',
  ERR_SMUX_CLOSED: 'ERR_MUX_SESSION_CLOSED',
};

export class SmuxError extends VproxyError {
  readonly reason: SmuxErrorReason;

  constructor(reason: SmuxErrorReason, message: string) {
    super(BASE[reason], `smux: ${message}`);
    this.name = 'SmuxError';
    this.reason = reason;
  }
}
