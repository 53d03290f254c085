import {
  FEC_HEADER_SIZE_PLUS2,
  FecDecoder,
  type FecDecoderStats,
  FecEncoder,
  TYPE_DATA,
  TYPE_PARITY,
} from '../../fec/index.js';

/**
 * Forward error correction of `kcp://` (`fec=10/3`, see ../PROTOCOL.md): transports/fec's
 * Reed-Solomon encoder and decoder (kcp-go's), one pair per session, between the session's
 * KCP datagrams and the AEAD seal. Each datagram the arq sends becomes a data shard, and
 * every `dataShards` of them are followed by `parityShards` parity datagrams:
 *
 * ```
 *  0       4      5        9     10     11       13
 *  | conv  | cmd  | seqid  | cmd | tag  | size   | KCP segments (size − 2)      data, cmd 0xF1
 *  | conv  | cmd  | seqid  | cmd | tag  | Reed-Solomon parity of size ‖ KCP    parity, cmd 0xF2
 * ```
 *
 * Bytes 5… are kcp-go's FEC packet (seqid u32 LE, flag u16 LE, size u16 LE) except that the
 * flag's high byte, 0 in kcp-go, carries the shape tag (16·data + parity) mod 256, so a
 * listener refuses a client with another split instead of decoding its groups wrongly. The
 * conv and the one-byte command in front keep the session header's shape (conv at 0,
 * command at 4), so the endpoint demultiplexes and tells FEC from plain KCP and from its
 * control datagrams (CLOSE, RETRY, ECHO) before any decoding.
 */
export const CMD_FEC_DATA = TYPE_DATA; // 0xf1
export const CMD_FEC_PARITY = TYPE_PARITY; // 0xf2
const MAX_UDP_PAYLOAD = 65_535;
/** conv (4) and cmd (1) before the kcp-go FEC packet. */
export const FEC_PREFIX_BYTES = 5;
/** What FEC adds to each datagram: the prefix and kcp-go's header with its size field. */
export const FEC_OVERHEAD = FEC_PREFIX_BYTES + FEC_HEADER_SIZE_PLUS2;
/** Where the shape tag is (the high byte of kcp-go's flag). */
export const FEC_TAG_AT = FEC_PREFIX_BYTES + 5;

export interface FecShards {
  readonly dataShards: number;
  readonly parityShards: number;
}

/** `10/3`, or `off` for no FEC (how logs and errors name a setting). */
export function fecLabel(shards: FecShards | null): string {
  return shards === null ? 'off' : `${shards.dataShards}/${shards.parityShards}`;
}

/** (16·data + parity) mod 256: distinct for every split with both counts below 16. */
export function fecTag(shards: FecShards): number {
  return (shards.dataShards * 16 + shards.parityShards) & 0xff;
}

/** Whether `cmd` (byte 4 of a datagram) marks an FEC datagram. */
export function isFecCommand(cmd: number | undefined): boolean {
  return cmd === CMD_FEC_DATA || cmd === CMD_FEC_PARITY;
}

/** Decode-side counters of one session beyond the decoder's own (FecDecoderStats). */
export interface SessionFecStats extends FecDecoderStats {
  /** The command byte and kcp-go's flag disagree, or too short for the headers. */
  badPrefix: number;
  /** The shape tag is not ours: the peer codes another data/parity split (dropped). */
  otherShape: number;
}

/**
 * One session's FEC state. encode() builds the data shard for one KCP datagram; the parity
 * datagrams that completed a group are then in `parity`. decode() turns one received FEC
 * datagram into the KCP datagrams it carries or lets the session rebuild.
 */
export class SessionFec {
  readonly shards: FecShards;
  readonly #conv: number;
  readonly #encoder: FecEncoder;
  readonly #decoder: FecDecoder;
  readonly #parity: Buffer[] = [];
  readonly #tag: number;
  #badPrefix = 0;
  #otherShape = 0;

  constructor(conv: number, shards: FecShards) {
    this.shards = shards;
    this.#tag = fecTag(shards);
    this.#conv = conv >>> 0;
    this.#encoder = new FecEncoder(shards.dataShards, shards.parityShards, {
      headroom: FEC_PREFIX_BYTES,
    });
    // Any datagram size: the peer's mtu may exceed ours (kcp-go's decoder stops at 1500).
    this.#decoder = new FecDecoder(shards.dataShards, shards.parityShards, {
      maxPacket: MAX_UDP_PAYLOAD - FEC_PREFIX_BYTES,
    });
  }

  get label(): string {
    return fecLabel(this.shards);
  }

  /** Bytes encode() writes for `len` KCP bytes. */
  static sizeOf(len: number): number {
    return FEC_OVERHEAD + len;
  }

  /**
   * The data shard of `kcp[0, len)` into `out` at `at` (FEC_OVERHEAD + len bytes). Parity
   * datagrams of a group this completed are in `parity` until the next call.
   */
  encode(kcp: Uint8Array, len: number, out: Buffer, at: number): void {
    out.writeUInt32LE(this.#conv, at);
    out[at + 4] = CMD_FEC_DATA;
    this.#encoder.encodeInto(len === kcp.length ? kcp : kcp.subarray(0, len), out, at + 5);
    out[at + FEC_TAG_AT] = this.#tag;
    const parity = this.#parity;
    parity.length = 0;
    for (const p of this.#encoder.parity) {
      // The encoder left FEC_PREFIX_BYTES free in front of each parity packet.
      const d = Buffer.from(p.buffer, p.byteOffset - FEC_PREFIX_BYTES, FEC_PREFIX_BYTES + p.length);
      d.writeUInt32LE(this.#conv, 0);
      d[4] = CMD_FEC_PARITY;
      d[FEC_TAG_AT] = this.#tag;
      parity.push(d);
    }
  }

  /** Parity datagrams (fresh buffers, conv and cmd written) of the group the last encode() completed. */
  get parity(): readonly Buffer[] {
    return this.#parity;
  }

  /**
   * One FEC datagram (cmd 0xF1/0xF2, conv checked by the caller; its tag byte is zeroed in
   * place for kcp-go's decoder): the KCP datagrams to input, views valid until the next call.
   * Anything malformed or of another shape is counted and yields nothing.
   */
  decode(datagram: Uint8Array): readonly Buffer[] {
    // The flag's low byte repeats the command: a mismatch is garbage, not a shard.
    if (datagram.length < FEC_OVERHEAD || datagram[FEC_PREFIX_BYTES + 4] !== datagram[4]) {
      this.#badPrefix++;
      return NONE;
    }
    if (datagram[FEC_TAG_AT] !== this.#tag) {
      this.#otherShape++;
      return NONE;
    }
    datagram[FEC_TAG_AT] = 0;
    return this.#decoder.input(datagram.subarray(FEC_PREFIX_BYTES));
  }

  get stats(): SessionFecStats {
    return { ...this.#decoder.stats, badPrefix: this.#badPrefix, otherShape: this.#otherShape };
  }
}

const NONE: readonly Buffer[] = [];
