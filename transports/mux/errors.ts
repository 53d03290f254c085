import { codedError, type ErrorCodeTable } from '../../src/fd/errors.js';

/** Codes of the mux layer (transports/mux): each is one thing that happened to a session or stream. */
export const MUX_ERROR_CODES = {
  ERR_MUX_PROTOCOL: 'a frame or setting the mux protocol does not allow (PROTOCOL.md)',
  ERR_MUX_FRAME_SIZE: 'a frame longer than the negotiated maximum',
  ERR_MUX_FLOW_CONTROL: 'a peer sent past its window, or a window update overflowed',
  ERR_MUX_LIMIT: 'the stream limit of the session (or its stream ids) is reached',
  ERR_MUX_GOAWAY: 'the peer sent GOAWAY: no new streams on this session',
  ERR_MUX_KEEPALIVE_TIMEOUT: 'no answer to keepalive pings within the timeout',
  ERR_MUX_RESET: 'the peer reset the stream',
  ERR_MUX_SESSION_CLOSED: 'the session closed (locally, by the peer, or during its handshake)',
  ERR_MUX_STREAM_DESTROYED: 'a write on a stream destroyed locally',
} as const satisfies ErrorCodeTable;

export type MuxErrorCode = keyof typeof MUX_ERROR_CODES;

export class MuxError extends codedError('MuxError', MUX_ERROR_CODES) {}
