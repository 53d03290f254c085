import { checkShards } from './errors.js';
import {
  FEC_HEADER_SIZE,
  FEC_HEADER_SIZE_PLUS2,
  isFecPacket,
  MAX_PACKET,
  seqWrap,
  TYPE_DATA,
} from './header.js';
import { ReedSolomon } from './reed-solomon.js';

export interface FecDecoderStats {
  /** Data shards received (each delivered at once). */
  dataShards: number;
  parityShards: number;
  /** Data shards rebuilt from parity and delivered. */
  recovered: number;
  /** Packets without an FEC header, passed through as raw KCP (kcp-go does the same). */
  raw: number;
  /** A seqid already held in its group. */
  duplicates: number;
  /** Shards of a group older than the window (or already complete): not stored. */
  stale: number;
  /** Too short for the 8-byte FEC header, or longer than kcp-go ever sends. */
  malformed: number;
  /** A data flag at a parity position or vice versa (the peer's shard counts differ). */
  misplaced: number;
  /** Rebuilt shards whose size field was impossible (garbage parity). */
  badRecovered: number;
  /** Groups evicted while data shards were still missing. */
  lostGroups: number;
}

interface Group {
  id: number;
  shards: (Uint8Array | null)[];
  lens: number[];
  count: number;
  dataCount: number;
  maxLen: number;
  /** All data shards seen or rebuilt: later shards of this group are ignored. */
  done: boolean;
}

/**
 * kcp-go's FEC decoder: data shards go up at once; a group that has lost data shards
 * but holds `dataShards` shards in all is rebuilt with Reed-Solomon, and the rebuilt
 * KCP packets go up too. Memory is bounded: at most `maxGroups` groups are open (kcp-go
 * keeps 3 groups' worth of packets); older ones are dropped and counted.
 */
export class FecDecoder {
  readonly stats: FecDecoderStats = {
    dataShards: 0,
    parityShards: 0,
    recovered: 0,
    raw: 0,
    duplicates: 0,
    stale: 0,
    malformed: 0,
    misplaced: 0,
    badRecovered: 0,
    lostGroups: 0,
  };
  private readonly rs: ReedSolomon;
  private readonly total: number;
  private readonly dataCount: number;
  private readonly numGroups: number;
  private readonly maxGroups: number;
  private readonly groups = new Map<number, Group>();
  private newest = -1;
  private readonly pool: Uint8Array[] = [];
  private readonly out: Buffer[] = [];
  /** Longest packet taken; longer ones are malformed. */
  private readonly maxPacket: number;

  /**
   * `maxGroups`: open groups kept (3). `maxPacket`: the longest packet taken (kcp-go's
   * 1500; `kcp://` with a larger mtu raises it, and shards above 1500 bytes are then
   * stored in buffers of their own size instead of the pooled ones).
   */
  constructor(
    dataShards: number,
    parityShards: number,
    options: { maxGroups?: number; maxPacket?: number } = {},
  ) {
    checkShards(dataShards, parityShards);
    this.maxPacket = Math.max(FEC_HEADER_SIZE_PLUS2, options.maxPacket ?? MAX_PACKET);
    this.rs = new ReedSolomon(dataShards, parityShards);
    this.dataCount = dataShards;
    this.total = dataShards + parityShards;
    this.numGroups = seqWrap(this.total) / this.total;
    this.maxGroups = Math.max(1, options.maxGroups ?? 3);
  }

  /**
   * Feeds one packet (after the crypt layer). Returns the KCP packets to pass up: the
   * packet's own KCP bytes if it is a data shard (a view of `packet`), then any rebuilt
   * ones. The returned array is reused by the next call.
   */
  input(packet: Uint8Array): readonly Buffer[] {
    const out = this.out;
    out.length = 0;
    if (!isFecPacket(packet)) {
      this.stats.raw++;
      out.push(view(packet, 0, packet.length));
      return out;
    }
    if (packet.length < FEC_HEADER_SIZE_PLUS2 || packet.length > this.maxPacket) {
      this.stats.malformed++;
      return out;
    }
    const seqid =
      ((packet[0] as number) |
        ((packet[1] as number) << 8) |
        ((packet[2] as number) << 16) |
        ((packet[3] as number) << 24)) >>>
      0;
    const isData = packet[4] === TYPE_DATA;
    if (isData) {
      this.stats.dataShards++;
      out.push(view(packet, FEC_HEADER_SIZE_PLUS2, packet.length - FEC_HEADER_SIZE_PLUS2));
    } else {
      this.stats.parityShards++;
    }
    const index = seqid % this.total;
    if (isData !== index < this.dataCount) {
      this.stats.misplaced++;
      return out;
    }
    const group = this.groupFor(Math.floor(seqid / this.total) % this.numGroups);
    if (group === null || group.done) {
      this.stats.stale++;
      return out;
    }
    if (group.shards[index] != null) {
      this.stats.duplicates++;
      return out;
    }
    this.store(group, index, packet.subarray(FEC_HEADER_SIZE));
    if (isData) group.dataCount++;
    if (group.dataCount === this.dataCount) this.finish(group);
    else if (group.count >= this.dataCount) this.rebuild(group);
    return out;
  }

  /** Open groups (for tests and the stats page). */
  get openGroups(): number {
    return this.groups.size;
  }

  /** The group for `id`, opening it (and closing groups that fall out of the window). */
  private groupFor(id: number): Group | null {
    if (this.newest < 0) this.newest = id;
    const ahead = this.distance(id, this.newest);
    if (ahead <= -this.maxGroups) return null;
    if (ahead > 0) {
      this.newest = id;
      for (const g of this.groups.values()) {
        if (this.distance(this.newest, g.id) >= this.maxGroups) this.evict(g);
      }
    }
    let g = this.groups.get(id);
    if (g === undefined) {
      g = {
        id,
        shards: new Array<Uint8Array | null>(this.total).fill(null),
        lens: new Array<number>(this.total).fill(0),
        count: 0,
        dataCount: 0,
        maxLen: 0,
        done: false,
      };
      this.groups.set(id, g);
    }
    return g;
  }

  /** Signed distance a − b between group ids on the wrapping group counter. */
  private distance(a: number, b: number): number {
    let d = (a - b) % this.numGroups;
    if (d < 0) d += this.numGroups;
    return d > this.numGroups / 2 ? d - this.numGroups : d;
  }

  private store(g: Group, index: number, region: Uint8Array): void {
    const buf =
      region.length <= MAX_PACKET
        ? (this.pool.pop() ?? new Uint8Array(MAX_PACKET))
        : new Uint8Array(region.length);
    buf.set(region, 0);
    g.shards[index] = buf;
    g.lens[index] = region.length;
    g.count++;
    if (region.length > g.maxLen) g.maxLen = region.length;
  }

  /** Rebuilds the missing data shards from any dataShards present ones and passes them up. */
  private rebuild(g: Group): void {
    const len = g.maxLen;
    const shards: (Uint8Array | null)[] = g.shards.map((s, i) => {
      if (s == null) return null;
      if (s.length < len) {
        // A pooled shard in a group with one longer than the pool's size (maxPacket > 1500).
        const grown = new Uint8Array(len);
        grown.set(s.subarray(0, g.lens[i] as number));
        if (s.length === MAX_PACKET) this.pool.push(s);
        g.shards[i] = grown;
        return grown;
      }
      s.fill(0, g.lens[i] as number, len);
      return s.subarray(0, len);
    });
    const rebuilt = this.rs.reconstructData(shards, len);
    if (rebuilt === null) return;
    for (const i of rebuilt) {
      const r = shards[i] as Uint8Array;
      const size = (r[0] as number) | ((r[1] as number) << 8);
      if (size < 2 || size > len) {
        this.stats.badRecovered++;
        continue;
      }
      this.stats.recovered++;
      this.out.push(view(r, 2, size - 2));
    }
    this.finish(g);
  }

  /** Marks a group complete and returns its buffers; it stays (empty) to ignore late shards. */
  private finish(g: Group): void {
    g.done = true;
    for (let i = 0; i < g.shards.length; i++) {
      const s = g.shards[i];
      if (s != null && s.length === MAX_PACKET) this.pool.push(s);
      g.shards[i] = null;
    }
  }

  private evict(g: Group): void {
    if (!g.done) {
      this.stats.lostGroups++;
      this.finish(g);
    }
    this.groups.delete(g.id);
  }
}

function view(b: Uint8Array, offset: number, length: number): Buffer {
  return Buffer.from(b.buffer, b.byteOffset + offset, length);
}
