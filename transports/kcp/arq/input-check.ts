import type { KcpStats } from './stats.js';
import { CMD_ACK, CMD_PUSH, CMD_WINS, OVERHEAD, readU8, readU32, seqDiff } from './wire.js';

/** Result of input(): 0, or why the whole datagram was rejected. */
export const InputStatus = {
  Ok: 0,
  /** Shorter than a header, or trailing bytes after the last whole segment. */
  Short: -1,
  Conv: -2,
  /** A segment's len runs past the datagram. */
  Length: -3,
  Command: -4,
  /** una acknowledges data never sent. */
  Una: -5,
  /** ACK for an sn never sent. */
  Ack: -6,
  /** Payload on an ACK/WASK/WINS. */
  Malformed: -7,
} as const;
export type InputStatus = (typeof InputStatus)[keyof typeof InputStatus];

/**
 * Header checks of every segment of a datagram, before anything is applied, so a datagram is
 * either used whole or not at all. `sndNxt` is the receiving block's next sn to send: no honest
 * peer acknowledges beyond it.
 */
export function checkDatagram(d: Uint8Array, conv: number, sndNxt: number): InputStatus {
  const n = d.length;
  if (n < OVERHEAD) return InputStatus.Short;
  let o = 0;
  while (n - o >= OVERHEAD) {
    if (readU32(d, o) !== conv) return InputStatus.Conv;
    const cmd = readU8(d, o + 4);
    if (cmd < CMD_PUSH || cmd > CMD_WINS) return InputStatus.Command;
    const len = readU32(d, o + 20);
    if (len > n - o - OVERHEAD) return InputStatus.Length;
    if (len !== 0 && cmd !== CMD_PUSH) return InputStatus.Malformed;
    if (seqDiff(readU32(d, o + 16), sndNxt) > 0) return InputStatus.Una;
    if (cmd === CMD_ACK && seqDiff(readU32(d, o + 12), sndNxt) >= 0) return InputStatus.Ack;
    o += OVERHEAD + len;
  }
  return o === n ? InputStatus.Ok : InputStatus.Short;
}

/** Counts a rejected datagram under its reason. */
export function countRejection(s: KcpStats, status: InputStatus): void {
  s.inRejected++;
  if (status === InputStatus.Short) s.rejectShort++;
  else if (status === InputStatus.Conv) s.rejectConv++;
  else if (status === InputStatus.Length) s.rejectLength++;
  else if (status === InputStatus.Command) s.rejectCommand++;
  else if (status === InputStatus.Una) s.rejectUna++;
  else if (status === InputStatus.Ack) s.rejectAck++;
  else s.rejectMalformed++;
}
