import { VproxyError } from '../fd/errors.js';

/** Codes of worker processes (src/workers), each with its one meaning. */
export const WORKER_ERROR_CODES = {
  ERR_WORKER_DOWN:
    'a worker process is not running (it died and is being restarted, or was stopped)',
} as const;

export type WorkerErrorCode = keyof typeof WORKER_ERROR_CODES;

/** VproxyError with any code: this module's own, or one a worker reported. */
const CodedError = VproxyError as unknown as new (
  code: string,
  message: string,
  options?: { cause?: unknown },
) => VproxyError;

export class WorkerError extends CodedError {
  constructor(code: WorkerErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'WorkerError';
  }
}

/**
 * An error a worker reported, rebuilt in the main process with its code: one
 * of the project's codes stays a VproxyError, an OS code (EADDRINUSE) stays an
 * errno-style error, so callers read it as if it had happened here.
 */
export function remoteError(
  error: { readonly message: string; readonly code?: string } | undefined,
): Error {
  const message = error?.message ?? 'the worker failed';
  const code = error?.code;
  if (code?.startsWith('ERR_')) return new CodedError(code, message);
  return Object.assign(new Error(message), code === undefined ? {} : { code });
}
