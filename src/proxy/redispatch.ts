import { type Address, formatAddress } from '../fd/address.js';
import { VproxyError } from '../fd/errors.js';
import { errorFields, type LogFields } from '../fd/logger.js';
import type { BackendChoice } from './backend-picker.js';
import { MAX_RETRIES } from './engine-options.js';
import type { Session } from './session.js';

// Redispatch (HAProxy's `option redispatch` with `retries`): a backend connect
// that fails is tried on another backend before the client hears of it.

export function checkRetries(retries: number): number {
  if (!Number.isInteger(retries) || retries < 0 || retries > MAX_RETRIES) {
    throw new VproxyError(
      'ERR_OPTION_INVALID',
      `invalid retries ${String(retries)}: expected an integer in 0..${MAX_RETRIES}`,
    );
  }
  return retries;
}

/**
 * A picker's repick that still answers with a backend already tried is no
 * answer (trying it again would hide the failure behind another wait).
 */
export function notTried(
  choice: BackendChoice | null,
  tried: readonly Address[],
): BackendChoice | null {
  if (choice === null) return null;
  const text = formatAddress(choice.address);
  if (!tried.some((a) => a === choice.address || formatAddress(a) === text)) return choice;
  choice.release?.({ connected: false, bytesToBackend: 0, bytesFromBackend: 0 });
  return null;
}

/** The `backend-connect-failed` line: who, where, the OS's answer, and what the client gets instead. */
export function connectFailureFields(
  session: Session,
  choice: BackendChoice,
  err: Error,
  next: BackendChoice | null,
): LogFields {
  return {
    client: session.info().client,
    backend: formatAddress(choice.address),
    attempt: session.redispatches + 1,
    ...errorFields(err),
    redispatchTo: next === null ? undefined : formatAddress(next.address),
  };
}
