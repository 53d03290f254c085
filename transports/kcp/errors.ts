import { codedError, type ErrorCodeTable } from '../../src/fd/errors.js';

/** Codes of the KCP transport (transports/kcp). */
export const KCP_ERROR_CODES = {
  ERR_KCP_CONFIG: 'a KCP control-block setting out of range',
  ERR_KCP_MESSAGE_TOO_LARGE: 'a message needs more fragments than KCP can number',
  ERR_KCP_BUFFER_TOO_SMALL: 'a receive buffer smaller than the next message',
  ERR_KCP_DEAD_LINK: 'a segment was retransmitted past the dead-link limit',
  ERR_KCP_CLOSED: 'a write or read on a KCP session already closed',
  ERR_KCP_FEC_MISMATCH: "the listener refused the session: the two ends' fec= settings differ",
} as const satisfies ErrorCodeTable;

export type KcpErrorCode = keyof typeof KCP_ERROR_CODES;

export class KcpError extends codedError('KcpError', KCP_ERROR_CODES) {}
