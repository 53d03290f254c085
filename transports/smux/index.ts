/** smux v1/v2 (xtaci/smux), the stream multiplexer inside a kcptun KCP connection. */
export { SmuxError, type SmuxErrorCode } from './errors.js';
export {
  CMD_FIN,
  CMD_NOP,
  CMD_PSH,
  CMD_SYN,
  CMD_UPD,
  encodeControl,
  encodePush,
  encodeUpdate,
  HEADER_SIZE,
  MAX_FRAME,
  type SmuxFrame,
  type SmuxVersion,
  UPD_SIZE,
  writeHeader,
} from './frame.js';
export { SmuxParser, type SmuxParserOptions } from './parser.js';
export { SmuxSession, type SmuxSessionHandler, type SmuxSessionOptions } from './session.js';
