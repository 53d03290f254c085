import { createCipheriv, createDecipheriv } from 'node:crypto';
import { randomNonce } from './header.js';
import { newStats, type PacketCrypt, type PacketCryptStats } from './types.js';

const NONCE = 12;
const TAG = 16;

/**
 * aes-128-gcm as in kcp-go's aeadCrypt (newer releases than Debian's 20210922 build):
 * `nonce[12] | ciphertext | tag[16]`, no associated data, no CRC (the tag replaces it).
 * Format from kcp-go's sess.go (Seal(dst = nonce, nonce, plaintext, nil)); key = the
 * derived key's first 16 bytes, from newer kcptun's crypt table. Proven by round trips
 * only: no installed kcptun speaks GCM.
 */
export class AesGcmCrypt implements PacketCrypt {
  readonly name = 'aes-128-gcm';
  readonly headerSize = NONCE;
  readonly overhead = NONCE + TAG;
  readonly tailroom = 0;
  readonly stats: PacketCryptStats = newStats();
  private nonce: Buffer = Buffer.alloc(NONCE);
  private readonly key: Buffer;

  constructor(key: Buffer) {
    this.key = Buffer.from(key.subarray(0, 16));
  }

  seal(payload: Uint8Array, nonce?: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(NONCE + payload.length + TAG);
    if (nonce === undefined) randomNonce(out, NONCE);
    else out.set(nonce.subarray(0, NONCE), 0);
    const c = createCipheriv('aes-128-gcm', this.key, out.subarray(0, NONCE));
    const body = c.update(payload);
    c.final();
    out.set(body, NONCE);
    out.set(c.getAuthTag(), NONCE + payload.length);
    this.stats.sealed++;
    return out;
  }

  sealFramed(buf: Buffer, len: number): Buffer {
    return this.seal(buf.subarray(NONCE, NONCE + len));
  }

  open(datagram: Uint8Array): Buffer | null {
    if (datagram.length < NONCE + TAG) {
      this.stats.shortDatagrams++;
      return null;
    }
    const nonce = datagram.subarray(0, NONCE);
    const d = createDecipheriv('aes-128-gcm', this.key, nonce);
    d.setAuthTag(datagram.subarray(datagram.length - TAG));
    const plain = d.update(datagram.subarray(NONCE, datagram.length - TAG));
    try {
      d.final();
    } catch {
      this.stats.checksumErrors++;
      return null;
    }
    this.stats.opened++;
    this.nonce = Buffer.from(nonce);
    return plain;
  }

  lastNonce(): Buffer {
    return Buffer.from(this.nonce);
  }
}
