import { MUL } from './gf256.js';

/**
 * GF(2^8) matrix × shards with WebAssembly SIMD: the split-nibble table method that
 * klauspost/reedsolomon runs in assembly (PSHUFB), here as `i8x16.swizzle`. For a
 * coefficient c, c·x = LOW_c[x & 15] ^ HIGH_c[x >> 4] (multiplication by c is linear
 * over GF(2)), so 16 bytes cost two swizzles where the scalar loop does 16 table loads.
 *
 * The module is 200-odd bytes emitted below rather than a build step or a dependency;
 * where WebAssembly SIMD is missing, `SimdCoder.create()` returns null and callers keep
 * the scalar loop, which gives the same bytes (the tests compare the two).
 */

/** Unsigned LEB128. */
function uleb(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

/** Signed LEB128 for small i32 constants. */
function sleb(n: number): number[] {
  const out: number[] = [];
  let v = n | 0;
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => [...uleb(s.length), ...Buffer.from(s, 'latin1')];

// Opcodes (core and the SIMD proposal's 0xfd prefix).
const BLOCK = [0x02, 0x40];
const LOOP = [0x03, 0x40];
const END = 0x0b;
const BR = (d: number) => [0x0c, d];
const BR_IF = (d: number) => [0x0d, d];
const GET = (i: number) => [0x20, i];
const SET = (i: number) => [0x21, i];
const CONST = (n: number) => [0x41, ...sleb(n)];
const ADD = 0x6a;
const MUL_I32 = 0x6c;
const GE_U = 0x4f;
const V_LOAD = [0xfd, 0x00, 0x04, 0x00];
const V_STORE = [0xfd, 0x0b, 0x04, 0x00];
const SWIZZLE = [0xfd, 0x0e];
const SPLAT8 = [0xfd, 0x0f];
const V_AND = [0xfd, 0x4e];
const V_XOR = [0xfd, 0x51];
const SHR_U8 = [0xfd, 0x6d];

// coded(nIn, nOut, stride, inBase, outBase, tabBase):
//   out[r] = Σ_j c[r][j] · in[j] for r < nOut, every row `stride` bytes (a multiple of 16);
//   the 32-byte LOW/HIGH tables of c[r][j] are at tabBase + (r·nIn + j)·32.
const P_NIN = 0;
const P_NOUT = 1;
const P_STRIDE = 2;
const P_IN = 3;
const P_OUT = 4;
const P_TAB = 5;
const L_R = 6;
const L_J = 7;
const L_I = 8;
const L_OUT = 9;
const L_IN = 10;
const L_TAB = 11;
const V_LO = 12;
const V_HI = 13;
const V_X = 14;
const V_MASK = 15;

/** `i += step; br loop` */
/** `for (i = 0; i < bound; i += step) inner` */
const forLoop = (i: number, bound: number, step: number, inner: number[]): number[] => [
  ...CONST(0),
  ...SET(i),
  ...BLOCK,
  ...LOOP,
  ...[...GET(i), ...GET(bound), GE_U, ...BR_IF(1)],
  ...inner,
  ...[...GET(i), ...CONST(step), ADD, ...SET(i)],
  ...BR(0),
  END,
  END,
];

/** `base + a·b` on the stack */
const madd = (base: number, a: number, b: number) => [
  ...GET(base),
  ...GET(a),
  ...GET(b),
  MUL_I32,
  ADD,
];

const ZERO16 = [0xfd, 0x0c, ...new Array<number>(16).fill(0)];

// out[i] ^= LOW[x & 15] ^ HIGH[x >> 4] with x = in[i]
const mulAdd16 = [
  ...[...GET(L_IN), ...GET(L_I), ADD, ...V_LOAD, ...SET(V_X)],
  ...[...GET(L_OUT), ...GET(L_I), ADD], // the store's address
  ...[...GET(L_OUT), ...GET(L_I), ADD, ...V_LOAD],
  ...[...GET(V_LO), ...GET(V_X), ...GET(V_MASK), ...V_AND, ...SWIZZLE],
  ...[...GET(V_HI), ...GET(V_X), ...CONST(4), ...SHR_U8, ...SWIZZLE],
  ...V_XOR,
  ...V_XOR,
  ...V_STORE,
];

const perInput = [
  // tab = tabBase + (r·nIn + j)·32; in = inBase + j·stride
  ...[...GET(P_TAB), ...GET(L_R), ...GET(P_NIN), MUL_I32, ...GET(L_J), ADD],
  ...[...CONST(32), MUL_I32, ADD, ...SET(L_TAB)],
  ...madd(P_IN, L_J, P_STRIDE),
  ...SET(L_IN),
  ...[...GET(L_TAB), ...V_LOAD, ...SET(V_LO)],
  ...[...GET(L_TAB), ...CONST(16), ADD, ...V_LOAD, ...SET(V_HI)],
  ...forLoop(L_I, P_STRIDE, 16, mulAdd16),
];

const perOutput = [
  ...madd(P_OUT, L_R, P_STRIDE),
  ...SET(L_OUT),
  ...forLoop(L_I, P_STRIDE, 16, [...GET(L_OUT), ...GET(L_I), ADD, ...ZERO16, ...V_STORE]),
  ...forLoop(L_J, P_NIN, 1, perInput),
];

const body: number[] = [
  // locals: 6 × i32, 4 × v128
  ...[0x02, 0x06, 0x7f, 0x04, 0x7b],
  ...[...CONST(0x0f), ...SPLAT8, ...SET(V_MASK)],
  ...forLoop(L_R, P_NOUT, 1, perOutput),
  END,
];

const I32 = 0x7f;
const MODULE = new Uint8Array([
  0x00,
  0x61,
  0x73,
  0x6d,
  0x01,
  0x00,
  0x00,
  0x00,
  ...section(1, [0x01, 0x60, 0x06, I32, I32, I32, I32, I32, I32, 0x00]),
  ...section(3, [0x01, 0x00]),
  ...section(5, [0x01, 0x00, 0x01]),
  ...section(7, [0x02, ...name('memory'), 0x02, 0x00, ...name('coded'), 0x00, 0x00]),
  ...section(10, [0x01, ...uleb(body.length), ...body]),
]);

// The project's lib settings have no DOM, where TypeScript keeps the WebAssembly
// types; these are the few members used here.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmInstance {
  readonly exports: Record<string, unknown>;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => WasmInstance;
}
const Wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

let compiled: object | null | undefined;

function module(): object | null {
  if (compiled === undefined) {
    try {
      compiled = Wasm?.validate(MODULE) === true ? new Wasm.Module(MODULE) : null;
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

type Coded = (
  nIn: number,
  nOut: number,
  stride: number,
  inBase: number,
  outBase: number,
  tabBase: number,
) => void;

const PAGE = 65_536;

/** Writes the LOW/HIGH tables of every coefficient of `rows` (nOut × nIn) at `at`. */
function writeTables(mem: Uint8Array, at: number, rows: readonly Uint8Array[], nIn: number): void {
  let t = at;
  for (const row of rows) {
    for (let j = 0; j < nIn; j++) {
      const base = (row[j] as number) << 8;
      for (let k = 0; k < 16; k++) {
        mem[t + k] = MUL[base + k] as number;
        mem[t + 16 + k] = MUL[base + (k << 4)] as number;
      }
      t += 32;
    }
  }
}

/**
 * One coder per Reed-Solomon codec (its own linear memory): tables first, then the
 * input rows, then the output rows. Not shared, so no caller sees another's bytes.
 */
export class SimdCoder {
  readonly #memory: WasmMemory;
  readonly #coded: Coded;
  #bytes: Uint8Array;
  /** The rows whose tables are in memory now: an encoder's fixed rows are written once. */
  #tablesOf: readonly Uint8Array[] | null = null;

  private constructor(instance: WasmInstance) {
    this.#memory = instance.exports.memory as WasmMemory;
    this.#coded = instance.exports.coded as Coded;
    this.#bytes = new Uint8Array(this.#memory.buffer);
  }

  /** null where WebAssembly SIMD is not available. */
  static create(): SimdCoder | null {
    const m = module();
    return m === null || Wasm === undefined ? null : new SimdCoder(new Wasm.Instance(m, {}));
  }

  #room(bytes: number): Uint8Array {
    if (bytes > this.#bytes.length) {
      this.#memory.grow(Math.ceil((bytes - this.#bytes.length) / PAGE));
      this.#bytes = new Uint8Array(this.#memory.buffer);
    }
    return this.#bytes;
  }

  /**
   * outputs[r][0..len) = Σ_j rows[r][j] · inputs[j][0..len) (overwrites the outputs).
   * The same `rows` array (not a copy) again reuses its tables: do not change it in place.
   */
  code(
    rows: readonly Uint8Array[],
    inputs: readonly Uint8Array[],
    outputs: readonly Uint8Array[],
    len: number,
  ): void {
    const nIn = inputs.length;
    const nOut = rows.length;
    const stride = (len + 15) & ~15;
    const inBase = nOut * nIn * 32;
    const outBase = inBase + nIn * stride;
    const mem = this.#room(outBase + nOut * stride);
    if (this.#tablesOf !== rows) {
      writeTables(mem, 0, rows, nIn);
      this.#tablesOf = rows;
    }
    for (let j = 0; j < nIn; j++) {
      const src = inputs[j] as Uint8Array;
      const at = inBase + j * stride;
      if (src.length >= len) mem.set(src.subarray(0, len), at);
      else {
        mem.set(src, at);
        mem.fill(0, at + src.length, at + len);
      }
    }
    this.#coded(nIn, nOut, stride, inBase, outBase, 0);
    for (let r = 0; r < nOut; r++) {
      const at = outBase + r * stride;
      (outputs[r] as Uint8Array).set(mem.subarray(at, at + len));
    }
  }
}
