import { gfDiv, gfExp, gfMul } from './gf256.js';

/** A dense GF(2^8) matrix, one Uint8Array per row. */
export type Matrix = Uint8Array[];

function swap(m: Matrix, i: number, j: number): void {
  const t = m[i] as Uint8Array;
  m[i] = m[j] as Uint8Array;
  m[j] = t;
}

export function zeros(rows: number, cols: number): Matrix {
  return Array.from({ length: rows }, () => new Uint8Array(cols));
}

export function identity(n: number): Matrix {
  const m = zeros(n, n);
  for (let i = 0; i < n; i++) (m[i] as Uint8Array)[i] = 1;
  return m;
}

/** rows × cols Vandermonde matrix, entry (r, c) = r^c. */
export function vandermonde(rows: number, cols: number): Matrix {
  const m = zeros(rows, cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) (m[r] as Uint8Array)[c] = gfExp(r, c);
  }
  return m;
}

export function multiply(a: Matrix, b: Matrix): Matrix {
  const n = b.length;
  const cols = (b[0] as Uint8Array).length;
  const out = zeros(a.length, cols);
  for (let r = 0; r < a.length; r++) {
    const ar = a[r] as Uint8Array;
    const or = out[r] as Uint8Array;
    for (let c = 0; c < cols; c++) {
      let v = 0;
      for (let k = 0; k < n; k++) v ^= gfMul(ar[k] as number, (b[k] as Uint8Array)[c] as number);
      or[c] = v;
    }
  }
  return out;
}

/** Gauss-Jordan inverse of a square matrix; throws RangeError when it is singular. */
export function invert(m: Matrix): Matrix {
  const n = m.length;
  const a = m.map((row) => Uint8Array.from(row));
  const inv = identity(n);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    while (pivot < n && (a[pivot] as Uint8Array)[col] === 0) pivot++;
    if (pivot === n) throw new RangeError('singular matrix');
    if (pivot !== col) {
      swap(a, col, pivot);
      swap(inv, col, pivot);
    }
    const ac = a[col] as Uint8Array;
    const ic = inv[col] as Uint8Array;
    const scale = gfDiv(1, ac[col] as number);
    for (let k = 0; k < n; k++) {
      ac[k] = gfMul(ac[k] as number, scale);
      ic[k] = gfMul(ic[k] as number, scale);
    }
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const ar = a[r] as Uint8Array;
      const f = ar[col] as number;
      if (f === 0) continue;
      const ir = inv[r] as Uint8Array;
      for (let k = 0; k < n; k++) {
        ar[k] = (ar[k] as number) ^ gfMul(f, ac[k] as number);
        ir[k] = (ir[k] as number) ^ gfMul(f, ic[k] as number);
      }
    }
  }
  return inv;
}

/**
 * klauspost/reedsolomon's default coding matrix (buildMatrix): a totalShards × dataShards
 * Vandermonde matrix multiplied by the inverse of its top square, so the top rows are
 * the identity (data shards go out unchanged) and any dataShards rows stay invertible.
 */
export function codingMatrix(dataShards: number, totalShards: number): Matrix {
  const vm = vandermonde(totalShards, dataShards);
  return multiply(vm, invert(vm.slice(0, dataShards)));
}
