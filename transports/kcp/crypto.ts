import {
  type CipherGCMTypes,
  createCipheriv,
  createDecipheriv,
  createHmac,
  randomBytes,
  scryptSync,
} from 'node:crypto';
import nacl from 'tweetnacl';

/**
 * Optional datagram encryption for KCP (`key=` passphrase).
 *
 * Every datagram is `nonce (24) ‖ secretbox(plaintext)` (16-byte Poly1305 tag), i.e. 40 bytes
 * of overhead. The key is `scrypt(passphrase, salt = "vproxy-ts/kcp/v1", N = 2^14, r = 8,
 * p = 1, 32 bytes)`, derived once per distinct passphrase and cached for the process.
 *
 * ## Nonce and replay protection (our choice)
 * The nonce is not purely random but structured, so a receiver can reject replays with a
 * constant amount of state per session:
 * ```
 *  0            12           18           24
 *  | salt (12)  | time (6)   | counter (6)|
 * ```
 * - salt: 12 random bytes chosen once per sending session; a session accepts only its
 *   peer's salt once it has seen one (the listener also refuses salts of recently closed
 *   sessions, so a captured session cannot be replayed to start a fresh one);
 * - time: the sender's wall clock in ms (48-bit LE); datagrams more than `MAX_SKEW_MS` away from
 *   the receiver's clock are dropped as stale (peers need clocks within ±2 minutes);
 * - counter: increments per datagram (48-bit LE); a sliding window of `REPLAY_WINDOW` counters
 *   (a bitmap, as IPsec/DTLS do) drops duplicates and anything older than the window.
 * Nonces never repeat under one key: 96 random bits per session plus a counter.
 * Forged, truncated or modified datagrams fail Poly1305 and never reach the arq.
 *
 * ## Ciphers (`crypt=`)
 * - `aes-128-gcm` (the default) and `chacha20-poly1305`: node:crypto's AEADs. The datagram is
 *   `nonce (24) ‖ ciphertext ‖ tag (16)` with the 24-byte nonce above sent in the clear and
 *   authenticated as associated data. The AEAD key is per sending session,
 *   `HMAC-SHA256(key, salt)` (its first 16 bytes for AES-128), and the AEAD's 12-byte nonce
 *   is `counter (6) ‖ time (6)`: unique under that key because the counter is.
 * - `secretbox`: tweetnacl's XSalsa20-Poly1305 with the 24-byte nonce as its nonce, the
 *   datagram `nonce ‖ tag ‖ ciphertext` — what every `key=` meant before `crypt=` existed.
 * All three add 40 bytes; the ciphers do not interoperate (both ends name the same one).
 */

export const KCP_CRYPTS = ['aes-128-gcm', 'chacha20-poly1305', 'secretbox'] as const;
export type KcpCrypt = (typeof KCP_CRYPTS)[number];
export const DEFAULT_KCP_CRYPT: KcpCrypt = 'aes-128-gcm';

export const NONCE_BYTES = 24;
export const TAG_BYTES = 16;
export const SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES;
export const MAX_SKEW_MS = 120_000;
export const REPLAY_WINDOW = 2048;
const SALT_BYTES = 12;
const KDF_SALT = 'vproxy-ts/kcp/v1';
const KDF_PARAMS = { N: 1 << 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
const MAX_DATAGRAM = 65_536;

/** tweetnacl's low-level box API (present at runtime, missing from its typings). */
interface NaclLowLevel {
  crypto_secretbox(c: Uint8Array, m: Uint8Array, d: number, n: Uint8Array, k: Uint8Array): number;
  crypto_secretbox_open(
    m: Uint8Array,
    c: Uint8Array,
    d: number,
    n: Uint8Array,
    k: Uint8Array,
  ): number;
}
const lowlevel = (nacl as unknown as { lowlevel: NaclLowLevel }).lowlevel;

// scrypt is deliberately slow (tens of ms): derive once per passphrase. Bounded, so a
// program that cycles through many keys does not grow without limit (oldest dropped first).
const keyCache = new Map<string, Uint8Array>();
const KEY_CACHE_MAX = 64;

/** The 32-byte secretbox key for a passphrase (memory-hard scrypt; cached per passphrase). */
export function deriveKey(passphrase: string): Uint8Array {
  let key = keyCache.get(passphrase);
  if (key === undefined) {
    key = new Uint8Array(scryptSync(passphrase, KDF_SALT, nacl.secretbox.keyLength, KDF_PARAMS));
    if (keyCache.size >= KEY_CACHE_MAX) keyCache.delete(keyCache.keys().next().value as string);
    keyCache.set(passphrase, key);
  }
  return key;
}

/** Drop counters of one receiver; plain fields, mutated in place. */
export class CryptoStats {
  sealed = 0;
  opened = 0;
  /** Too short to hold a nonce and a tag. */
  dropTruncated = 0;
  /** Failed authentication: forged, modified, or sealed under another key. */
  dropForged = 0;
  /** Counter already seen or older than the replay window, or a foreign/closed salt. */
  dropReplayed = 0;
  /** Timestamp further than MAX_SKEW_MS from our clock. */
  dropStale = 0;

  get dropped(): number {
    return this.dropTruncated + this.dropForged + this.dropReplayed + this.dropStale;
  }
}

/** What a sender stamps into its nonces: one per sending session. */
export class NonceSource {
  readonly salt = randomBytes(SALT_BYTES);
  counter = 0;
}

/**
 * Seals and opens datagrams under one key. Scratch buffers are reused: `open()` returns a
 * view valid until the next call (the arq copies what it keeps), `seal()` a fresh Buffer
 * (it is handed to the asynchronous dgram send).
 */
export class DatagramCipher {
  readonly stats = new CryptoStats();
  readonly #key: Uint8Array;
  readonly #m = new Uint8Array(32 + MAX_DATAGRAM);
  readonly #c = new Uint8Array(32 + MAX_DATAGRAM);
  readonly #nonce = new Uint8Array(NONCE_BYTES);
  /** Wall clock in ms (injectable for tests). */
  readonly #clock: () => number;
  readonly crypt: KcpCrypt;
  /** AEADs: node:crypto's name, and the per-salt keys (the last salt opened is kept). */
  readonly #aead: CipherGCMTypes | 'chacha20-poly1305' | null;
  readonly #aeadKeyBytes: number;
  readonly #sealKeys = new WeakMap<NonceSource, Buffer>();
  #openSalt: Buffer | null = null;
  #openKey: Buffer | null = null;
  readonly #aeadNonce = Buffer.alloc(12);

  constructor(key: Uint8Array, clock: () => number = Date.now, crypt: KcpCrypt = 'secretbox') {
    if (key.length !== nacl.secretbox.keyLength) throw new RangeError('key must be 32 bytes');
    this.#key = key;
    this.#clock = clock;
    this.crypt = crypt;
    this.#aead = crypt === 'secretbox' ? null : crypt;
    this.#aeadKeyBytes = crypt === 'aes-128-gcm' ? 16 : 32;
  }

  static fromPassphrase(
    passphrase: string,
    clock?: () => number,
    crypt: KcpCrypt = 'secretbox',
  ): DatagramCipher {
    return new DatagramCipher(deriveKey(passphrase), clock, crypt);
  }

  /** `nonce ‖ box` for `plain[0, len)`. */
  seal(plain: Uint8Array, len: number, from: NonceSource): Buffer {
    const out = Buffer.allocUnsafe(SEAL_OVERHEAD + len);
    const nonce = out.subarray(0, NONCE_BYTES);
    nonce.set(from.salt, 0);
    nonce.writeUIntLE(this.#clock() % 2 ** 48, SALT_BYTES, 6);
    nonce.writeUIntLE(from.counter, SALT_BYTES + 6, 6);
    from.counter = (from.counter + 1) % 2 ** 48;
    if (this.#aead !== null) {
      let key = this.#sealKeys.get(from);
      if (key === undefined) {
        key = this.#saltKey(from.salt);
        this.#sealKeys.set(from, key);
      }
      const c = createCipheriv(this.#aead as CipherGCMTypes, key, this.#aeadNonceOf(nonce), {
        authTagLength: TAG_BYTES,
      });
      c.setAAD(nonce, { plaintextLength: len });
      const body = c.update(plain.subarray(0, len));
      c.final();
      out.set(body, NONCE_BYTES);
      out.set(c.getAuthTag(), NONCE_BYTES + len);
      this.stats.sealed++;
      return out;
    }
    const m = this.#m;
    m.fill(0, 0, 32);
    m.set(plain.subarray(0, len), 32);
    lowlevel.crypto_secretbox(this.#c, m, 32 + len, nonce, this.#key);
    // crypto_secretbox leaves 16 zero bytes, then tag ‖ ciphertext.
    out.set(this.#c.subarray(16, 32 + len), NONCE_BYTES);
    this.stats.sealed++;
    return out;
  }

  /**
   * Authenticates and decrypts; null (counted) when the datagram is truncated, forged,
   * stale or, given a replay window, replayed. The plaintext view is valid until the next call.
   */
  open(datagram: Uint8Array, replay?: ReplayWindow): Uint8Array | null {
    const s = this.stats;
    const len = datagram.length - SEAL_OVERHEAD;
    if (len < 0 || datagram.length > MAX_DATAGRAM) {
      s.dropTruncated++;
      return null;
    }
    const nonce = this.#nonce;
    nonce.set(datagram.subarray(0, NONCE_BYTES));
    let plain: Uint8Array;
    if (this.#aead !== null) {
      const opened = this.#openAead(datagram, len);
      if (opened === null) {
        s.dropForged++;
        return null;
      }
      plain = opened;
    } else {
      const c = this.#c;
      c.fill(0, 0, 16);
      c.set(datagram.subarray(NONCE_BYTES), 16);
      if (lowlevel.crypto_secretbox_open(this.#m, c, 32 + len, nonce, this.#key) !== 0) {
        s.dropForged++;
        return null;
      }
      plain = this.#m.subarray(32, 32 + len);
    }
    const time = readU48(nonce, SALT_BYTES);
    if (Math.abs((this.#clock() % 2 ** 48) - time) > MAX_SKEW_MS) {
      s.dropStale++;
      return null;
    }
    if (replay !== undefined && !replay.accept(nonce)) {
      s.dropReplayed++;
      return null;
    }
    s.opened++;
    return plain;
  }

  /** The AEAD key of one sending session: HMAC-SHA256(key, salt), cut to the cipher's size. */
  #saltKey(salt: Uint8Array): Buffer {
    const k = createHmac('sha256', this.#key).update(salt).digest();
    return k.subarray(0, this.#aeadKeyBytes);
  }

  /** The AEAD's 12-byte nonce from the 24-byte one: counter (6) ‖ time (6). */
  #aeadNonceOf(nonce: Uint8Array): Buffer {
    const n = this.#aeadNonce;
    n.set(nonce.subarray(SALT_BYTES + 6, NONCE_BYTES), 0);
    n.set(nonce.subarray(SALT_BYTES, SALT_BYTES + 6), 6);
    return n;
  }

  #openAead(datagram: Uint8Array, len: number): Buffer | null {
    const nonce = this.#nonce;
    const salt = nonce.subarray(0, SALT_BYTES);
    let key = this.#openKey;
    if (key === null || this.#openSalt === null || !this.#openSalt.equals(salt)) {
      // A run of datagrams comes from one session: one HMAC per change of sender.
      key = this.#saltKey(salt);
      this.#openKey = key;
      this.#openSalt = Buffer.from(salt);
    }
    const d = createDecipheriv(this.#aead as CipherGCMTypes, key, this.#aeadNonceOf(nonce), {
      authTagLength: TAG_BYTES,
    });
    d.setAAD(nonce, { plaintextLength: len });
    d.setAuthTag(datagram.subarray(NONCE_BYTES + len));
    const plain = d.update(datagram.subarray(NONCE_BYTES, NONCE_BYTES + len));
    try {
      d.final();
    } catch {
      return null;
    }
    return plain;
  }

  /** The nonce of the datagram last opened (valid until the next open). */
  get lastNonce(): Uint8Array {
    return this.#nonce;
  }
}

function readU48(b: Uint8Array, o: number): number {
  let v = 0;
  for (let i = 5; i >= 0; i--) v = v * 256 + (b[o + i] as number);
  return v;
}

/** The salt of a nonce as a map key (for the listener's list of closed sessions). */
export function saltKey(nonce: Uint8Array): string {
  return Buffer.from(nonce.buffer, nonce.byteOffset, SALT_BYTES).toString('latin1');
}

/**
 * Sliding replay window over one peer's nonces: the first accepted nonce fixes the peer's
 * salt; then a counter is accepted once, if it is above `highest − REPLAY_WINDOW`.
 */
export class ReplayWindow {
  #salt: Uint8Array | null = null;
  #highest = -1;
  readonly #seen = new Uint32Array(REPLAY_WINDOW / 32);

  /** Records and accepts the nonce, or rejects it (foreign salt, duplicate, too old). */
  accept(nonce: Uint8Array): boolean {
    if (this.#salt === null) {
      this.#salt = nonce.slice(0, SALT_BYTES);
    } else {
      for (let i = 0; i < SALT_BYTES; i++) if (nonce[i] !== this.#salt[i]) return false;
    }
    const n = readU48(nonce, SALT_BYTES + 6);
    const seen = this.#seen;
    if (n > this.#highest) {
      // Clear the bits of the counters we skip over (they are now inside the window).
      const advance = this.#highest < 0 ? REPLAY_WINDOW : n - this.#highest;
      if (advance >= REPLAY_WINDOW) seen.fill(0);
      else for (let k = this.#highest + 1; k <= n; k++) clearBit(seen, k);
      this.#highest = n;
      setBit(seen, n);
      return true;
    }
    if (this.#highest - n >= REPLAY_WINDOW) return false;
    if (testBit(seen, n)) return false;
    setBit(seen, n);
    return true;
  }
}

function setBit(a: Uint32Array, n: number): void {
  const i = (n % REPLAY_WINDOW) >>> 5;
  a[i] = (a[i] as number) | (1 << (n & 31));
}
function clearBit(a: Uint32Array, n: number): void {
  const i = (n % REPLAY_WINDOW) >>> 5;
  a[i] = (a[i] as number) & ~(1 << (n & 31));
}
function testBit(a: Uint32Array, n: number): boolean {
  return (((a[(n % REPLAY_WINDOW) >>> 5] as number) >>> (n & 31)) & 1) === 1;
}
