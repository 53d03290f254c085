import { VproxyError } from './errors.js';

export interface DeadlineOptions {
  readonly timeoutMs?: number | undefined;
  readonly signal?: AbortSignal | undefined;
}

/**
 * Wait for `ready`, but give up on timeout or abort: `giveUp` is called once
 * (to destroy whatever was half-built) and the promise rejects with a typed
 * error naming `what`. Timers and listeners are always removed, so a finished
 * connect leaves nothing behind.
 */
export function awaitReady(
  ready: Promise<unknown>,
  options: DeadlineOptions,
  what: string,
  giveUp: (err: Error) => void,
): Promise<void> {
  const { timeoutMs, signal } = options;
  return new Promise<void>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err) {
        giveUp(err);
        reject(err);
      } else {
        resolve();
      }
    };
    const onAbort = () =>
      finish(new VproxyError('ERR_CONNECT_ABORTED', `${what}: aborted`, { cause: signal?.reason }));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeoutMs !== undefined && timeoutMs > 0) {
      timer = setTimeout(() => finish(connectTimeoutError(what, timeoutMs)), timeoutMs);
    }
    ready.then(
      () => finish(),
      (err: unknown) => finish(err instanceof Error ? err : new Error(String(err))),
    );
  });
}

/** What a connect that was not ready after `timeoutMs` fails with; `what` names it (`tcp connect to h:p`). */
export function connectTimeoutError(what: string, timeoutMs: number): VproxyError {
  return new VproxyError('ERR_CONNECT_TIMEOUT', `${what}: timed out after ${timeoutMs} ms`);
}

/** An AbortSignal that fires after a deadline; `cancel()` once the work is done. */
export interface Deadline {
  readonly signal: AbortSignal;
  cancel(): void;
}

/**
 * Abort `signal` with `reason()` after `timeoutMs` (0 or less: never), then run
 * `onExpire` (e.g. destroy the stream the work reads from). One construction
 * for every handshake deadline, so each caller only says what expiry means.
 */
export function deadline(timeoutMs: number, reason: () => Error, onExpire?: () => void): Deadline {
  const abort = new AbortController();
  const timer =
    timeoutMs > 0
      ? setTimeout(() => {
          abort.abort(reason());
          onExpire?.();
        }, timeoutMs)
      : undefined;
  return { signal: abort.signal, cancel: () => clearTimeout(timer) };
}
