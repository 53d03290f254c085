import { crc32 } from 'node:zlib';
import { crcMatches, randomNonce, withCrcHeader } from './header.js';
import { CRYPT_HEADER_SIZE, NONCE_SIZE } from './key.js';
import { newStats, type PacketCrypt, type PacketCryptStats } from './types.js';

/** One whole-datagram transform, as kcp-go's BlockCrypt Encrypt / Decrypt. */
export interface DatagramCipher {
  /** Encrypts a freshly built datagram; may work in place. */
  encrypt(plain: Buffer): Buffer;
  /**
   * Encrypts `buf[0, len)` of a datagram built in place (random nonce first); `buf` has 16
   * spare bytes after it. May work in place.
   */
  encryptFramed(buf: Buffer, len: number): Buffer;
  /**
   * Decrypts a received datagram; the caller's bytes stay intact. A cipher that does not
   * transform (`none`) returns a view of them, the others a new buffer.
   */
  decrypt(datagram: Uint8Array): Buffer;
  /** Spare bytes encryptFramed() needs after the datagram (CFB pads to a whole block). */
  readonly tailroom: number;
}

/**
 * The framing every pre-AEAD kcp-go cipher shares: `nonce[16] | crc32 | payload`,
 * then the cipher over the whole datagram. A datagram shorter than the header or
 * whose CRC fails is dropped and counted, as kcp-go's packetInput does.
 */
export class CrcFramedCrypt implements PacketCrypt {
  readonly headerSize = CRYPT_HEADER_SIZE;
  readonly overhead = CRYPT_HEADER_SIZE;
  readonly tailroom: number;
  readonly stats: PacketCryptStats = newStats();
  /** The last datagram open() accepted (its nonce is copied out only when asked for). */
  private last: Buffer = Buffer.alloc(NONCE_SIZE);

  constructor(
    readonly name: string,
    private readonly cipher: DatagramCipher,
  ) {
    this.tailroom = cipher.tailroom;
  }

  seal(payload: Uint8Array, nonce?: Uint8Array): Buffer {
    this.stats.sealed++;
    return this.cipher.encrypt(withCrcHeader(payload, nonce));
  }

  sealFramed(buf: Buffer, len: number): Buffer {
    this.stats.sealed++;
    randomNonce(buf, NONCE_SIZE);
    buf.writeUInt32LE(crc32(buf.subarray(CRYPT_HEADER_SIZE, CRYPT_HEADER_SIZE + len)), NONCE_SIZE);
    return this.cipher.encryptFramed(buf, CRYPT_HEADER_SIZE + len);
  }

  open(datagram: Uint8Array): Buffer | null {
    if (datagram.length < CRYPT_HEADER_SIZE) {
      this.stats.shortDatagrams++;
      return null;
    }
    const plain = this.cipher.decrypt(datagram);
    if (!crcMatches(plain)) {
      this.stats.checksumErrors++;
      return null;
    }
    this.stats.opened++;
    this.last = plain;
    return plain.subarray(CRYPT_HEADER_SIZE);
  }

  lastNonce(): Buffer {
    return Buffer.from(this.last.subarray(0, NONCE_SIZE));
  }
}
