/**
 * GF(2^8) arithmetic as klauspost/reedsolomon (and Backblaze's JavaReedSolomon before
 * it) defines it: reducing polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11d), generator 2.
 * The field is fixed by kcp-go's wire format: another polynomial gives other parity bytes.
 */

const POLY = 0x11d;

/** EXP[i] = 2^i for i in 0..509 (doubled so EXP[LOG[a] + LOG[b]] needs no modulo). */
export const EXP = new Uint8Array(510);
/** LOG[a] = i with 2^i = a, for a ≠ 0 (LOG[0] is unused). */
export const LOG = new Uint8Array(256);

{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= POLY;
  }
  for (let i = 255; i < 510; i++) EXP[i] = EXP[i - 255] as number;
}

export function gfMul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  return EXP[(LOG[a] as number) + (LOG[b] as number)] as number;
}

export function gfDiv(a: number, b: number): number {
  if (b === 0) throw new RangeError('GF(2^8) division by zero');
  if (a === 0) return 0;
  return EXP[(LOG[a] as number) + 255 - (LOG[b] as number)] as number;
}

/** a^n with klauspost's convention 0^0 = 1 (the Vandermonde matrix's first column). */
export function gfExp(a: number, n: number): number {
  if (n === 0) return 1;
  if (a === 0) return 0;
  return EXP[((LOG[a] as number) * n) % 255] as number;
}

/**
 * MUL[c * 256 + x] = c·x: one 64 KiB table, so the coding loops do one lookup per
 * byte instead of two log lookups, an add and a branch.
 */
export const MUL = new Uint8Array(256 * 256);
for (let c = 0; c < 256; c++) {
  for (let x = 0; x < 256; x++) MUL[c * 256 + x] = gfMul(c, x);
}
