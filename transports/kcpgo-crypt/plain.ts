import { newStats, type PacketCrypt, type PacketCryptStats } from './types.js';

/**
 * `null` in newer kcptun (its crypt table maps it to no BlockCrypt): no crypt header at
 * all, the FEC/KCP packet is the datagram.
 * (Debian's 20210922 build does not know `null` and silently falls back to `aes` —
 * see the null-comp-v1 fixture — so a peer of that build must be given `none`/`aes`.)
 */
export class NullCrypt implements PacketCrypt {
  readonly name = 'null';
  readonly headerSize = 0;
  readonly overhead = 0;
  readonly tailroom = 0;
  readonly stats: PacketCryptStats = newStats();

  seal(payload: Uint8Array): Buffer {
    this.stats.sealed++;
    return Buffer.from(payload);
  }

  sealFramed(buf: Buffer, len: number): Buffer {
    this.stats.sealed++;
    return buf.subarray(0, len);
  }

  open(datagram: Uint8Array): Buffer | null {
    this.stats.opened++;
    return Buffer.from(datagram);
  }

  lastNonce(): Buffer {
    return Buffer.alloc(0);
  }
}
