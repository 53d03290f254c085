/** Public API of the KCP control block; the design notes live in control-block.ts. */
export {
  type CongestionMode,
  isPresetName,
  type KcpOptions,
  type KcpPresetName,
  type KcpTunables,
  mssOf,
  nodelayMinRto,
  PRESETS,
  REFERENCE_DEFAULTS,
  resolveTunables,
} from './config.js';
export { InputStatus, KcpControlBlock } from './control-block.js';
export type { OutputFn } from './packer.js';
export { MAX_FRAGMENTS } from './sender.js';
export { KcpStats } from './stats.js';
export {
  CMD_ACK,
  CMD_PUSH,
  CMD_WASK,
  CMD_WINS,
  type DecodedSegment,
  decodeDatagram,
  encodeSegment,
  OVERHEAD,
  readHeader,
  type SegmentHeader,
  seqDiff,
} from './wire.js';
