import { parseIp, unmapIp } from './ip.js';

/**
 * Hashing for `source` selection: a 64-bit key per client (two 32-bit halves)
 * and a weighted rendezvous score per (client, server). Pure functions, so the
 * same client maps to the same server on every instance and after restarts.
 */
export interface HashKey {
  readonly hi: number;
  readonly lo: number;
}

const SEED_HI = 0x9747b28c;
const SEED_LO = 0x1b873593;
const encoder = new TextEncoder();

/** murmur3 x86 32-bit. */
export function murmur3(bytes: Uint8Array, seed: number): number {
  let h = seed >>> 0;
  const n = bytes.length;
  const blocks = n & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k =
      (bytes[i] ?? 0) |
      ((bytes[i + 1] ?? 0) << 8) |
      ((bytes[i + 2] ?? 0) << 16) |
      ((bytes[i + 3] ?? 0) << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = n & 3;
  if (tail > 0) {
    let k = bytes[blocks] ?? 0;
    if (tail >= 2) k ^= (bytes[blocks + 1] ?? 0) << 8;
    if (tail === 3) k ^= (bytes[blocks + 2] ?? 0) << 16;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= n;
  return fmix32(h);
}

/** murmur3's finaliser: every input bit flips each output bit with probability ~1/2. */
export function fmix32(x: number): number {
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function keyOf(bytes: Uint8Array): HashKey {
  return { hi: murmur3(bytes, SEED_HI), lo: murmur3(bytes, SEED_LO) };
}

/**
 * The key of a client address. IPv4-mapped IPv6 hashes as the IPv4 it
 * carries, so a client keeps its server whether it reaches a v4 or a
 * dual-stack listener. Text that is not an IP is hashed as text.
 */
export function clientHashKey(address: string | null | undefined): HashKey {
  const ip = address ? parseIp(address) : null;
  return keyOf(ip === null ? encoder.encode(address ?? '') : unmapIp(ip).bytes);
}

export function nameHashKey(name: string): HashKey {
  return keyOf(encoder.encode(name));
}

const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;

/**
 * Weighted rendezvous (highest random weight) score: `ln(u) / weight` with u
 * uniform in (0, 1) per (client, server). The server with the highest score
 * wins, which gives each server a share proportional to its weight, and when
 * a server joins or leaves only the clients that pick (or picked) it move.
 */
export function rendezvousScore(client: HashKey, server: HashKey, weight: number): number {
  const a = fmix32(client.hi ^ server.hi);
  const b = fmix32(client.lo ^ server.lo ^ Math.imul(a, 0x9e3779b1));
  const c = fmix32(a ^ Math.imul(b, 0x85ebca77));
  const u = ((c >>> 11) * TWO_POW_32 + b + 0.5) / TWO_POW_53;
  return Math.log(u) / weight;
}
