import { checkShards } from './errors.js';
import { SimdCoder } from './gf-simd.js';
import { MUL } from './gf256.js';
import { codingMatrix, invert, type Matrix } from './matrix.js';

/** Decode matrices kept per loss pattern; a link sees few distinct patterns. */
const DECODE_CACHE_MAX = 64;

/**
 * Systematic Reed-Solomon erasure code over GF(2^8) with klauspost/reedsolomon's
 * default matrix, so parity bytes match kcp-go's byte for byte. Shards are equal-length
 * byte arrays; callers pad short ones with zeros (as kcp-go does).
 */
export class ReedSolomon {
  readonly dataShards: number;
  readonly parityShards: number;
  readonly totalShards: number;
  private readonly matrix: Matrix;
  private readonly decodeCache = new Map<string, Matrix>();
  /** WebAssembly SIMD coding (about 10× the scalar loop); null: the scalar loop. */
  private readonly simd: SimdCoder | null;
  /** The parity rows of the coding matrix, one array so the SIMD coder keeps their tables. */
  private readonly parityRows: readonly Uint8Array[];

  /** `simd: false` forces the scalar loop (the tests compare the two). */
  constructor(dataShards: number, parityShards: number, options: { simd?: boolean } = {}) {
    checkShards(dataShards, parityShards);
    this.dataShards = dataShards;
    this.parityShards = parityShards;
    this.totalShards = dataShards + parityShards;
    this.matrix = codingMatrix(dataShards, this.totalShards);
    this.simd = options.simd === false ? null : SimdCoder.create();
    this.parityRows = this.matrix.slice(dataShards);
  }

  /** Whether coding runs on WebAssembly SIMD. */
  get accelerated(): boolean {
    return this.simd !== null;
  }

  /** Writes `parity[i]` = row (data + i) · data, over the first `len` bytes of each shard. */
  encode(data: readonly Uint8Array[], parity: readonly Uint8Array[], len: number): void {
    if (this.simd !== null) {
      this.simd.code(this.parityRows, data, parity, len);
      return;
    }
    let p = 0;
    // Three parity rows per pass: each data byte is loaded once for three outputs.
    for (; p + 3 <= this.parityShards; p += 3) {
      codeRows3(this.matrix, this.dataShards + p, data, parity, p, len);
    }
    for (; p < this.parityShards; p++) {
      codeRow(this.matrix[this.dataShards + p] as Uint8Array, data, parity[p] as Uint8Array, len);
    }
  }

  /**
   * Fills every missing (null) data shard from any `dataShards` present shards, each
   * `len` bytes. Returns the indices it recovered, or null when too few shards are present.
   */
  reconstructData(shards: (Uint8Array | null)[], len: number): number[] | null {
    const missing: number[] = [];
    for (let i = 0; i < this.dataShards; i++) if (shards[i] == null) missing.push(i);
    if (missing.length === 0) return [];
    // The first dataShards present rows, in index order (klauspost's choice; any
    // choice gives the same bytes for consistent shards).
    const present: number[] = [];
    for (let i = 0; i < this.totalShards && present.length < this.dataShards; i++) {
      if (shards[i] != null) present.push(i);
    }
    if (present.length < this.dataShards) return null;
    const decode = this.decodeMatrix(present);
    const inputs = present.map((i) => shards[i] as Uint8Array);
    if (this.simd !== null) {
      const outs = missing.map(() => new Uint8Array(len));
      this.simd.code(
        missing.map((d) => decode[d] as Uint8Array),
        inputs,
        outs,
        len,
      );
      missing.forEach((d, k) => {
        shards[d] = outs[k] as Uint8Array;
      });
      return missing;
    }
    for (const d of missing) {
      const out = new Uint8Array(len);
      codeRow(decode[d] as Uint8Array, inputs, out, len);
      shards[d] = out;
    }
    return missing;
  }

  /** Inverse of the coding matrix's rows for the present shards: data = inv · present. */
  private decodeMatrix(present: number[]): Matrix {
    const key = present.join(',');
    let m = this.decodeCache.get(key);
    if (m === undefined) {
      m = invert(present.map((i) => this.matrix[i] as Uint8Array));
      if (this.decodeCache.size >= DECODE_CACHE_MAX) {
        const oldest = this.decodeCache.keys().next().value;
        if (oldest !== undefined) this.decodeCache.delete(oldest);
      }
      this.decodeCache.set(key, m);
    }
    return m;
  }
}

/** out[0..len) = Σ row[j] · inputs[j], one table lookup per input byte. */
function codeRow(
  row: Uint8Array,
  inputs: readonly Uint8Array[],
  out: Uint8Array,
  len: number,
): void {
  out.fill(0, 0, len);
  for (let j = 0; j < inputs.length; j++) {
    const c = row[j] as number;
    if (c === 0) continue;
    const inp = inputs[j] as Uint8Array;
    if (c === 1) {
      for (let i = 0; i < len; i++) out[i] = (out[i] as number) ^ (inp[i] as number);
      continue;
    }
    const base = c << 8;
    for (let i = 0; i < len; i++)
      out[i] = (out[i] as number) ^ (MUL[base + (inp[i] as number)] as number);
  }
}

/** Three rows of `m` from `row` at once into outputs[at..at+3). */
function codeRows3(
  m: Matrix,
  row: number,
  inputs: readonly Uint8Array[],
  outputs: readonly Uint8Array[],
  at: number,
  len: number,
): void {
  const r0 = m[row] as Uint8Array;
  const r1 = m[row + 1] as Uint8Array;
  const r2 = m[row + 2] as Uint8Array;
  const o0 = outputs[at] as Uint8Array;
  const o1 = outputs[at + 1] as Uint8Array;
  const o2 = outputs[at + 2] as Uint8Array;
  o0.fill(0, 0, len);
  o1.fill(0, 0, len);
  o2.fill(0, 0, len);
  for (let j = 0; j < inputs.length; j++) {
    const inp = inputs[j] as Uint8Array;
    const b0 = (r0[j] as number) << 8;
    const b1 = (r1[j] as number) << 8;
    const b2 = (r2[j] as number) << 8;
    for (let i = 0; i < len; i++) {
      const x = inp[i] as number;
      o0[i] = (o0[i] as number) ^ (MUL[b0 + x] as number);
      o1[i] = (o1[i] as number) ^ (MUL[b1 + x] as number);
      o2[i] = (o2[i] as number) ^ (MUL[b2 + x] as number);
    }
  }
}
