/** Counters of one packet crypt; plain numbers so a stats page can read them cheaply. */
export interface PacketCryptStats {
  /** Datagrams produced by seal(). */
  sealed: number;
  /** Datagrams accepted by open(). */
  opened: number;
  /** Datagrams whose CRC32 (CFB ciphers, `none`) or AEAD tag did not verify. */
  checksumErrors: number;
  /** Datagrams too short to hold the header (kcp-go drops these silently). */
  shortDatagrams: number;
}

/**
 * kcp-go's per-datagram encryption, the outermost layer of a kcptun link.
 * `seal` turns one FEC/KCP packet into one UDP payload; `open` undoes it and returns
 * null (and counts why) for anything that does not verify.
 */
export interface PacketCrypt {
  /** The kcptun `--crypt` name. */
  readonly name: string;
  /** Bytes added in front of the payload (20 for CFB and `none`, 12 for GCM, 0 for `null`). */
  readonly headerSize: number;
  /** Total bytes added per datagram (header plus any AEAD tag). */
  readonly overhead: number;
  readonly stats: PacketCryptStats;
  /**
   * Encrypts one packet. `nonce` (the header's random bytes: 16 for CFB / salsa20 /
   * `none`, 12 for GCM) is random unless given — tests pass the captured one to
   * reproduce kcptun's bytes exactly.
   */
  seal(payload: Uint8Array, nonce?: Uint8Array): Buffer;
  /** Spare bytes sealFramed() may use after the payload (CFB pads to a whole block). */
  readonly tailroom: number;
  /**
   * seal() for a packet built in place, without a copy: `buf[headerSize, headerSize + len)`
   * holds the payload, `buf` is at least headerSize + len + tailroom bytes, and the header
   * is written in front of the payload with a random nonce. The datagram may share `buf`'s
   * memory (`none`, `null`, salsa20): keep `buf` unchanged until it is sent.
   */
  sealFramed(buf: Buffer, len: number): Buffer;
  /** Decrypts and verifies one datagram; the payload, or null when it must be dropped. */
  open(datagram: Uint8Array): Buffer | null;
  /** The nonce of a datagram that open() accepted last (for tests and diagnostics). */
  lastNonce(): Buffer;
}

export function newStats(): PacketCryptStats {
  return { sealed: 0, opened: 0, checksumErrors: 0, shortDatagrams: 0 };
}
