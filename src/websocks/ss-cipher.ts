import {
  type Cipher,
  createCipheriv,
  createDecipheriv,
  createHash,
  type Decipher,
  hkdfSync,
  randomBytes,
} from 'node:crypto';
import { VproxyError } from '../fd/errors.js';

/**
 * Shadowsocks stream encryption, as today's clients speak it (SIP004 AEAD:
 * chacha20-ietf-poly1305, aes-256-gcm) plus the reference agent's
 * aes-256-cfb for old configs. Pure byte transforms: no sockets, so they are
 * tested on their own and wrapped around any stream.
 */
export type SsMethod = 'chacha20-ietf-poly1305' | 'aes-256-gcm' | 'aes-256-cfb';
export const SS_METHODS: readonly SsMethod[] = [
  'chacha20-ietf-poly1305',
  'aes-256-gcm',
  'aes-256-cfb',
];

const KEY_LENGTH = 32;
const TAG = 16;
/** SIP004: a chunk's payload is at most 0x3FFF bytes. */
const MAX_CHUNK = 0x3fff;

export function parseSsMethod(text: string): SsMethod {
  const m = text.toLowerCase() as SsMethod;
  if (!SS_METHODS.includes(m)) {
    throw new VproxyError(
      'ERR_OPTION_INVALID',
      `shadowsocks method ${JSON.stringify(text)} is not one of ${SS_METHODS.join(', ')}`,
    );
  }
  return m;
}

/** OpenSSL EVP_BytesToKey(MD5, no salt, 1 round): the master key every Shadowsocks client derives. */
export function ssMasterKey(password: string): Buffer {
  const parts: Buffer[] = [];
  let prev = Buffer.alloc(0);
  while (Buffer.concat(parts).length < KEY_LENGTH) {
    prev = createHash('md5')
      .update(Buffer.concat([prev, Buffer.from(password, 'utf8')]))
      .digest();
    parts.push(prev);
  }
  return Buffer.concat(parts).subarray(0, KEY_LENGTH);
}

// Two calls rather than one with a union name: each AEAD has its own typed overload.
function sealer(method: SsMethod, key: Buffer, nonce: Buffer) {
  return method === 'aes-256-gcm'
    ? createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG })
    : createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
}

function opener(method: SsMethod, key: Buffer, nonce: Buffer) {
  return method === 'aes-256-gcm'
    ? createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG })
    : createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
}

function subkey(master: Buffer, salt: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha1', master, salt, 'ss-subkey', KEY_LENGTH));
}

/** A 12-byte little-endian counter, incremented after every seal or open (SIP004). */
class Nonce {
  readonly bytes = Buffer.alloc(12);
  next(): Buffer {
    const current = Buffer.from(this.bytes);
    for (let i = 0; i < 12; i++) {
      const v = ((this.bytes[i] as number) + 1) & 0xff;
      this.bytes[i] = v;
      if (v !== 0) break;
    }
    return current;
  }
}

function badData(why: string): VproxyError {
  return new VproxyError('ERR_NOT_SUPPORTED', `shadowsocks: ${why}`);
}

/** Encrypts one direction: the salt (or IV) first, then the chunks. */
export class SsEncryptor {
  readonly #method: SsMethod;
  readonly #master: Buffer;
  #started = false;
  #key: Buffer | null = null;
  readonly #nonce = new Nonce();
  #cfb: Cipher | null = null;

  constructor(method: SsMethod, master: Buffer) {
    this.#method = method;
    this.#master = master;
  }

  encrypt(plain: Buffer): Buffer {
    const out: Buffer[] = [];
    if (!this.#started) {
      this.#started = true;
      if (this.#method === 'aes-256-cfb') {
        const iv = randomBytes(16);
        this.#cfb = createCipheriv('aes-256-cfb', this.#master, iv);
        out.push(iv);
      } else {
        const salt = randomBytes(KEY_LENGTH);
        this.#key = subkey(this.#master, salt);
        out.push(salt);
      }
    }
    if (this.#cfb !== null) {
      out.push(this.#cfb.update(plain));
      return Buffer.concat(out);
    }
    for (let off = 0; off < plain.length; off += MAX_CHUNK) {
      const piece = plain.subarray(off, Math.min(plain.length, off + MAX_CHUNK));
      const len = Buffer.alloc(2);
      len.writeUInt16BE(piece.length);
      out.push(...this.#seal(len), ...this.#seal(piece));
    }
    return Buffer.concat(out);
  }

  #seal(data: Buffer): Buffer[] {
    const c = sealer(this.#method, this.#key as Buffer, this.#nonce.next());
    return [c.update(data), c.final(), c.getAuthTag()];
  }
}

/**
 * Decrypts one direction incrementally, from chunks split anywhere. Holds at
 * most one sealed chunk (2 + 16 + 0x3FFF + 16 bytes) plus one read. A forged
 * or corrupted chunk throws: the caller closes the connection.
 */
export class SsDecryptor {
  readonly #method: SsMethod;
  readonly #master: Buffer;
  #buf: Buffer = Buffer.alloc(0);
  #key: Buffer | null = null;
  #cfb: Decipher | null = null;
  readonly #nonce = new Nonce();
  /** The payload length announced by the last length chunk, while its payload is awaited. */
  #pending = -1;

  constructor(method: SsMethod, master: Buffer) {
    this.#method = method;
    this.#master = master;
  }

  decrypt(data: Buffer): Buffer {
    if (this.#cfb !== null) return this.#cfb.update(data);
    this.#buf = this.#buf.length === 0 ? data : Buffer.concat([this.#buf, data]);
    if (this.#method === 'aes-256-cfb') {
      if (this.#buf.length < 16) return Buffer.alloc(0);
      this.#cfb = createDecipheriv('aes-256-cfb', this.#master, this.#buf.subarray(0, 16));
      const rest = this.#buf.subarray(16);
      this.#buf = Buffer.alloc(0);
      return this.#cfb.update(rest);
    }
    if (this.#key === null) {
      if (this.#buf.length < KEY_LENGTH) return Buffer.alloc(0);
      this.#key = subkey(this.#master, this.#buf.subarray(0, KEY_LENGTH));
      this.#buf = this.#buf.subarray(KEY_LENGTH);
    }
    const out: Buffer[] = [];
    for (;;) {
      if (this.#pending < 0) {
        if (this.#buf.length < 2 + TAG) break;
        const len = this.#open(this.#buf.subarray(0, 2 + TAG)).readUInt16BE(0);
        if (len === 0 || len > MAX_CHUNK) throw badData(`chunk length ${len} out of range`);
        this.#pending = len;
        this.#buf = this.#buf.subarray(2 + TAG);
      }
      if (this.#buf.length < this.#pending + TAG) break;
      out.push(this.#open(this.#buf.subarray(0, this.#pending + TAG)));
      this.#buf = this.#buf.subarray(this.#pending + TAG);
      this.#pending = -1;
    }
    // Keep a copy of the remainder only: never alias the caller's chunk for long.
    if (this.#buf.length > 0) this.#buf = Buffer.from(this.#buf);
    return out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out);
  }

  #open(sealed: Buffer): Buffer {
    const d = opener(this.#method, this.#key as Buffer, this.#nonce.next());
    d.setAuthTag(sealed.subarray(sealed.length - TAG));
    try {
      return Buffer.concat([d.update(sealed.subarray(0, sealed.length - TAG)), d.final()]);
    } catch {
      throw badData('a chunk failed authentication (wrong password or method, or tampering)');
    }
  }
}
