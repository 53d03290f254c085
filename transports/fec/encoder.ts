import { checkShards } from './errors.js';
import {
  FEC_HEADER_SIZE,
  FEC_HEADER_SIZE_PLUS2,
  MAX_PACKET,
  seqWrap,
  TYPE_DATA,
  TYPE_PARITY,
} from './header.js';
import { ReedSolomon } from './reed-solomon.js';

export interface FecEncoderOptions {
  /** The seqid of the first shard (tests; kcp-go starts at 0). */
  readonly firstSeqid?: number;
  /**
   * Each parity packet is a view into an allocation with this many spare bytes before it
   * (and `tailroom` after it), so the packet crypt can frame it without a copy.
   */
  readonly headroom?: number;
  readonly tailroom?: number;
  /**
   * Where parity packets are allocated: `len` bytes of their own that stay untouched until
   * sent (the kcptun endpoint passes its datagram slab). Default: Buffer.allocUnsafe.
   */
  readonly reserve?: (len: number) => Buffer;
}

/**
 * kcp-go's FEC encoder: every KCP packet becomes a data shard `seqid | 0xf1 | size |
 * KCP`; after each `dataShards` of them, `parityShards` parity packets `seqid | 0xf2 |
 * RS(size | KCP …)` follow, computed over the group's shards zero-padded to the longest.
 */
export class FecEncoder {
  readonly dataShards: number;
  readonly parityShards: number;
  /**
   * Parity packets produced by the last encode() call: empty except when it completed
   * a group. The array is reused between calls; the buffers in it are new each time.
   */
  readonly parity: Buffer[] = [];
  /**
   * The whole allocation of each packet in `parity`: headroom, packet, tailroom (what a
   * packet crypt frames in place). Same reuse as `parity`.
   */
  readonly parityFramed: Buffer[] = [];
  private readonly rs: ReedSolomon;
  private readonly wrap: number;
  private next: number;
  private count = 0;
  private maxLen = 0;
  /** `size | KCP` of the group so far, one preallocated buffer per data shard. */
  private readonly cache: Uint8Array[];
  private readonly lens: number[];

  /** Bytes left free in front of / after each parity packet (see FecEncoderOptions). */
  private readonly headroom: number;
  private readonly tailroom: number;
  private readonly reserve: (len: number) => Buffer;
  /** Per-group scratch, reused: the padded data shards and the parity outputs. */
  private readonly data: Uint8Array[] = [];
  private readonly outputs: Uint8Array[] = [];

  constructor(dataShards: number, parityShards: number, options: FecEncoderOptions = {}) {
    checkShards(dataShards, parityShards);
    this.headroom = options.headroom ?? 0;
    this.tailroom = options.tailroom ?? 0;
    this.reserve = options.reserve ?? Buffer.allocUnsafe;
    this.dataShards = dataShards;
    this.parityShards = parityShards;
    this.rs = new ReedSolomon(dataShards, parityShards);
    this.wrap = seqWrap(dataShards + parityShards);
    this.next = (options.firstSeqid ?? 0) % this.wrap;
    this.cache = Array.from({ length: dataShards }, () => new Uint8Array(MAX_PACKET));
    this.lens = new Array<number>(dataShards).fill(0);
  }

  /** The data shard packet for one KCP packet; check `parity` afterwards. */
  encode(kcp: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(FEC_HEADER_SIZE_PLUS2 + kcp.length);
    this.encodeInto(kcp, out, 0);
    return out;
  }

  /**
   * encode() into `out` at `at` (FEC_HEADER_SIZE_PLUS2 + kcp.length bytes): the data
   * shard is built where the datagram will be sent from. Check `parity` afterwards.
   */
  encodeInto(kcp: Uint8Array, out: Buffer, at: number): void {
    this.parity.length = 0;
    this.parityFramed.length = 0;
    const len = 2 + kcp.length;
    if (len > 0xffff) throw new RangeError(`fec: KCP packet of ${kcp.length} bytes too large`);
    out.writeUInt32LE(this.next, at);
    out.writeUInt16LE(TYPE_DATA, at + 4);
    out.writeUInt16LE(len, at + 6);
    out.set(kcp, at + FEC_HEADER_SIZE_PLUS2);
    // Data seqids only increment; the wrap happens at a parity shard (kcp-go's markData).
    this.next = (this.next + 1) >>> 0;

    let slot = this.cache[this.count] as Uint8Array;
    if (slot.length < len) {
      slot = new Uint8Array(len);
      this.cache[this.count] = slot;
    }
    // `size | KCP`: the size field as written above, then the KCP bytes from their source.
    slot[0] = len & 0xff;
    slot[1] = len >>> 8;
    slot.set(kcp, 2);
    this.lens[this.count] = len;
    this.count++;
    if (len > this.maxLen) this.maxLen = len;
    if (this.count === this.dataShards) this.finishGroup();
  }

  private finishGroup(): void {
    const maxLen = this.maxLen;
    const data = this.data;
    data.length = 0;
    for (let i = 0; i < this.dataShards; i++) {
      let slot = this.cache[i] as Uint8Array;
      if (slot.length < maxLen) {
        const grown = new Uint8Array(maxLen);
        grown.set(slot.subarray(0, this.lens[i] as number));
        slot = grown;
        this.cache[i] = slot;
      }
      slot.fill(0, this.lens[i] as number, maxLen);
      data.push(slot);
    }
    const outputs = this.outputs;
    outputs.length = 0;
    const head = this.headroom;
    const pktLen = FEC_HEADER_SIZE + maxLen;
    for (let p = 0; p < this.parityShards; p++) {
      const room = this.reserve(head + pktLen + this.tailroom);
      const pkt = room.subarray(head, head + pktLen);
      pkt.writeUInt32LE(this.next, 0);
      pkt.writeUInt16LE(TYPE_PARITY, 4);
      this.next = (this.next + 1) % this.wrap;
      this.parity.push(pkt);
      this.parityFramed.push(room);
      outputs.push(pkt.subarray(FEC_HEADER_SIZE));
    }
    this.rs.encode(data, outputs, maxLen);
    this.count = 0;
    this.maxLen = 0;
  }
}
