/**
 * kcp-go's FEC header (fec.go), in front of every KCP packet when FEC is on:
 *
 *   seqid u32 LE | flag u16 LE | size u16 LE | KCP bytes (size - 2)
 *
 * `size` belongs to the Reed-Solomon-coded region (it is how a receiver trims a
 * recovered, zero-padded shard); the 6 bytes before it do not.
 */
export const FEC_HEADER_SIZE = 6;
/** Header plus the size field: where the KCP bytes start. */
export const FEC_HEADER_SIZE_PLUS2 = 8;
export const TYPE_DATA = 0xf1;
export const TYPE_PARITY = 0xf2;

/** kcp-go's receive buffers (mtuLimit): a larger datagram cannot come from kcp-go. */
export const MAX_PACKET = 1500;

/**
 * True when `packet` carries an FEC header: KCP's own bytes 4–5 (cmd 81–84, frg) never
 * read as 0x00f1 / 0x00f2, which is how kcp-go tells FEC from raw KCP.
 */
export function isFecPacket(packet: Uint8Array): boolean {
  if (packet.length < FEC_HEADER_SIZE) return false;
  const flag = (packet[4] as number) | ((packet[5] as number) << 8);
  return flag === TYPE_DATA || flag === TYPE_PARITY;
}

/**
 * Sequence ids wrap at the largest multiple of the group size below 2^32 (kcp-go's
 * `paws`), so a group never straddles the wrap.
 */
export function seqWrap(shardsPerGroup: number): number {
  return Math.floor(0xffffffff / shardsPerGroup) * shardsPerGroup;
}
