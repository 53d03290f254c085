/**
 * kcp-go's forward error correction (between the packet crypt and KCP): header codec,
 * Reed-Solomon over GF(2^8) with klauspost/reedsolomon's matrix, encoder and a bounded
 * decoder. Pure: no sockets, no timers.
 */
export { FecDecoder, type FecDecoderStats } from './decoder.js';
export { FecEncoder, type FecEncoderOptions } from './encoder.js';
export { FecError, type FecErrorCode } from './errors.js';
export {
  FEC_HEADER_SIZE,
  FEC_HEADER_SIZE_PLUS2,
  isFecPacket,
  MAX_PACKET,
  TYPE_DATA,
  TYPE_PARITY,
} from './header.js';
export { ReedSolomon } from './reed-solomon.js';
