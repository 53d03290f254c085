/**
 * Counters of one control block. Plain number fields mutated in place (no allocation when
 * counting); read them any time, never write them.
 */
export class KcpStats {
  /** Datagrams given to input(). */
  inDatagrams = 0;
  /** Of those, rejected whole (not applied at all); the reasons follow. */
  inRejected = 0;
  /** Shorter than one header, or trailing bytes after the last whole segment. */
  rejectShort = 0;
  /** A segment's conv differs from ours. */
  rejectConv = 0;
  /** A segment's cmd is not PUSH/ACK/WASK/WINS. */
  rejectCommand = 0;
  /** A segment's len runs past the end of the datagram. */
  rejectLength = 0;
  /** A segment's una acknowledges data we never sent. */
  rejectUna = 0;
  /** An ACK for an sn we never sent. */
  rejectAck = 0;
  /** A control segment (ACK/WASK/WINS) carrying payload. */
  rejectMalformed = 0;

  /** Segments applied from accepted datagrams. */
  inSegments = 0;
  inAcks = 0;
  /** PUSH segments with new data. */
  inPush = 0;
  /** PUSH segments we already had (acknowledged again). */
  inPushDuplicate = 0;
  /** PUSH segments beyond the receive window (dropped, not acknowledged). */
  inPushBeyondWindow = 0;
  /** Message-mode fragments our window can never reassemble (dropped, not acknowledged). */
  inPushUndeliverable = 0;
  inWask = 0;
  inWins = 0;
  /** New payload bytes accepted. */
  inBytes = 0;

  outDatagrams = 0;
  outSegments = 0;
  outAcks = 0;
  /** ACKs sent a second time (ackRepeat). */
  outAckRepeats = 0;
  outWask = 0;
  outWins = 0;
  /** Segments sent for the first time. */
  outNewSegments = 0;
  /** Retransmissions after a timeout. */
  retransmitTimeout = 0;
  /** Fast retransmissions (enough later segments acknowledged). */
  retransmitFast = 0;
  /**
   * Of retransmitFast, those kcp-go's early retransmit sent (earlyRetransmit: a segment any
   * later ACK passed, in a flush with no new segment) rather than the `resend` threshold:
   * kcptun's SNMP log counts them apart (EarlyRetransSegs).
   */
  retransmitEarly = 0;
  /** Pacing mode: extra copies of a retransmitted head segment that blocks the window. */
  retransmitDuplicate = 0;
  /**
   * Retransmissions found unnecessary: the peer's ACK echoed the timestamp of a copy sent
   * before the last retransmission (so that copy had arrived). Seen only for segments
   * acknowledged one by one, not for those a cumulative una releases: a lower bound.
   */
  retransmitSpurious = 0;
  /** Of those, retransmissions on timeout: each one raises the RTO's stall floor (rtt.ts). */
  retransmitSpuriousTimeout = 0;
}
