import { type ErrorCode, VproxyError } from '../../src/fd/errors.js';

/**
 * Why a packet crypt could not be built. Module-owned reasons; the base `code` is the
 * nearest generic one (src/fd/errors.ts is shared and not ours to extend here).
 */
export type KcpgoCryptErrorReason = 'ERR_KCPGO_CRYPT_UNKNOWN' | 'ERR_KCPGO_CRYPT_KEY';

const BASE: Record<KcpgoCryptErrorReason, ErrorCode> = {
  ERR_KCPGO_CRYPT_UNKNOWN: 'ERR_NOT_SUPPORTED',
  ERR_KCPGO_CRYPT_KEY: 'ERR_OPTION_INVALID',
};

/** Thrown only at construction; bad datagrams are counted and dropped, never thrown. */
export class KcpgoCryptError extends VproxyError {
  readonly reason: KcpgoCryptErrorReason;

  constructor(reason: KcpgoCryptErrorReason, message: string) {
    super(BASE[reason], `kcp-go crypt: ${message}`);
    this.name = 'KcpgoCryptError';
    this.reason = reason;
  }
}
