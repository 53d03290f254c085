import type { Logger } from '../../../src/fd/logger.js';
import type { BoundAddress } from '../../../src/fd/server-fd.js';
import { CMD_ACK, CMD_PUSH, CMD_WASK, CMD_WINS } from '../arq/index.js';
import { FEC_OVERHEAD, FEC_TAG_AT, type FecShards, fecLabel, fecTag, isFecCommand } from './fec.js';

/** What a peer's datagrams say of its fec=, where it differs from ours. */
export type PeerFec = 'fec' | 'off' | 'other-split';

/**
 * Both ends of a `kcp://` link need the same fec=. One endpoint's check of that: which
 * datagrams show a peer with another setting (FEC ones without fec= here, plain KCP with it,
 * or FEC groups of another split), and the report — counted always, logged once per
 * endpoint, since a misconfigured peer retries, and so on.
 */
export class FecAgreement {
  readonly #fec: FecShards | null;
  /** fecTag(#fec): what the shape byte of a client's FEC datagrams must say. */
  readonly #tag: number;
  readonly #stats: { fecMismatch: number };
  readonly #logger: Logger;
  /** The endpoint's own address, read only when the first mismatch is logged. */
  readonly #local: () => BoundAddress;
  #logged = false;

  constructor(
    fec: FecShards | null,
    stats: { fecMismatch: number },
    logger: Logger,
    local: () => BoundAddress,
  ) {
    this.#fec = fec;
    this.#tag = fec === null ? -1 : fecTag(fec);
    this.#stats = stats;
    this.#logger = logger;
    this.#local = local;
  }

  /**
   * How the fec= of a datagram for no session (its FEC or KCP part from `at`) differs from
   * ours: null when it does not (or it is neither kind: garbage takes the usual path).
   */
  disagreement(plain: Uint8Array, at: number): PeerFec | null {
    const cmd = plain[at + 4];
    if (this.#fec === null) return isFecCommand(cmd) ? 'fec' : null;
    if (isKcpCommand(cmd)) return 'off';
    if (isFecCommand(cmd) && plain.length >= at + FEC_OVERHEAD) {
      return plain[at + FEC_TAG_AT] === this.#tag ? null : 'other-split';
    }
    return null;
  }

  /** A datagram from host:port showed fec= `theirs`: counted, and logged the first time. */
  report(host: string, port: number, theirs: PeerFec): void {
    this.#stats.fecMismatch++;
    if (this.#logged) return;
    this.#logged = true;
    const local = this.#local();
    this.#logger.warn('kcp-fec-mismatch', {
      local: `${local.host}:${local.port}`,
      peer: `${host}:${port}`,
      fec: fecLabel(this.#fec),
      peerFec: theirs === 'fec' ? 'on' : theirs,
      hint: 'both ends of a kcp:// link need the same fec=',
    });
  }
}

function isKcpCommand(cmd: number | undefined): boolean {
  return cmd === CMD_PUSH || cmd === CMD_ACK || cmd === CMD_WASK || cmd === CMD_WINS;
}
