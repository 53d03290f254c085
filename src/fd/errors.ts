/**
 * Every error the project raises on purpose is a VproxyError with a stable `code`,
 * so callers (and the control plane) can branch on codes instead of message text.
 *
 * Codes belong to the module that throws them (as undici's and ws's do): this file
 * keeps the base class and the generic codes any transport or layer may raise (a bad
 * address or option, a connect that timed out or was refused, a closed object); each
 * protocol, transport and the control plane has its own `errors.ts` with its own
 * table, code type and error class. Every code has exactly one meaning, written in
 * its table; `test/unit/errors.test.ts` checks that the codes are unique across the
 * tables and that each one is raised somewhere.
 */

/** A module's codes, each with its one meaning (the docs' error table is built from these). */
export type ErrorCodeTable = Readonly<Record<`ERR_${string}`, string>>;

export const CORE_ERROR_CODES = {
  ERR_ADDRESS_INVALID: "an address that does not parse, or a listen host that is not this host's",
  ERR_ADDRESS_IN_USE: 'a listen address some other socket already holds (EADDRINUSE)',
  ERR_PERMISSION_DENIED: 'the OS refused a listen or connect (EACCES, EPERM)',
  ERR_SCHEME_UNKNOWN: 'an address scheme no registered transport serves',
  ERR_SCHEME_DUPLICATE: 'a second transport registered for a scheme already taken',
  ERR_OPTION_UNKNOWN: 'an address option no layer of the stack knows',
  ERR_OPTION_INVALID: 'an option or setting with a value outside what it accepts',
  ERR_OPTION_AMBIGUOUS: 'a bare option name two layers of a stack know (write it with a prefix)',
  ERR_CONNECT_TIMEOUT: 'a connect did not complete within its timeout',
  ERR_CONNECT_ABORTED: "a connect was abandoned by its caller's abort signal",
  ERR_CONNECT_REFUSED: 'the peer refused the connection (ECONNREFUSED)',
  ERR_CONNECTION_RESET: 'the peer reset the connection (ECONNRESET, EPIPE)',
  ERR_HOST_UNREACHABLE: 'no route to the host or its network (EHOSTUNREACH, ENETUNREACH)',
  ERR_HOST_NOT_FOUND: 'the host name does not resolve (ENOTFOUND, EAI_AGAIN)',
  ERR_CONNECT_FAILED: 'a connect failed for another OS reason (the cause carries it)',
  ERR_HANDSHAKE_TIMEOUT: "a layer's or protocol's handshake did not finish within its deadline",
  ERR_HANDSHAKE_CLOSED: 'the peer ended or closed the stream during a layer handshake',
  ERR_HANDSHAKE_LIMIT: 'the oldest handshake in progress was dropped to admit a new one',
  ERR_PREMATURE_CLOSE: 'the stream ended before a complete message arrived',
  ERR_IDLE_TIMEOUT: 'nothing moved for the idle timeout',
  ERR_NOT_SUPPORTED: 'a feature or value this build or peer does not support',
  ERR_CLOSED: 'an operation on an object (loop, group, session, stream) already closed',
  ERR_NOT_FOUND: 'no resource of that kind and name',
  ERR_ALREADY_EXISTS: 'a resource of that kind and name exists already',
  ERR_NAME_INVALID: 'a resource name with characters or a length names cannot have',
} as const satisfies ErrorCodeTable;

/** The generic codes (this file's table). */
export type CoreErrorCode = keyof typeof CORE_ERROR_CODES;

/** Kept for embedders: the generic codes; a module's own codes have their own type. */
export type ErrorCode = CoreErrorCode;

/**
 * The base class. A module's error class passes its own code type (`C`); a plain
 * `new VproxyError(code, …)` takes only a generic code (`C` is never inferred from
 * the argument, and the default `string` asks for a CoreErrorCode). As a type,
 * `VproxyError` is any of the project's errors (`code: string`).
 */
export class VproxyError<C extends string = string> extends Error {
  readonly code: C;

  constructor(
    code: NoInfer<string extends C ? CoreErrorCode : C>,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'VproxyError';
    this.code = code as C;
  }
}

/**
 * A module's error class over its table: `class MuxError extends
 * codedError('MuxError', MUX_ERROR_CODES) {}` takes only the table's codes, and
 * with a `prefix` every message starts with it (`smux: …`).
 */
export function codedError<T extends ErrorCodeTable>(name: string, _table: T, prefix?: string) {
  return class extends VproxyError<keyof T & string> {
    constructor(code: keyof T & string, message: string, options?: { cause?: unknown }) {
      // `code` is one of the table's, which is exactly what this class's C is.
      super(code as never, prefix === undefined ? message : `${prefix}: ${message}`, options);
      this.name = name;
    }
  };
}

/** True for errors raised by this project (as opposed to bugs or OS errors). */
export function isVproxyError(err: unknown, code?: string): err is VproxyError<string> {
  return err instanceof VproxyError && (code === undefined || err.code === code);
}

const BY_OS_CODE: Readonly<Record<string, CoreErrorCode>> = {
  ECONNREFUSED: 'ERR_CONNECT_REFUSED',
  ECONNRESET: 'ERR_CONNECTION_RESET',
  EPIPE: 'ERR_CONNECTION_RESET',
  ETIMEDOUT: 'ERR_CONNECT_TIMEOUT',
  EHOSTUNREACH: 'ERR_HOST_UNREACHABLE',
  EHOSTDOWN: 'ERR_HOST_UNREACHABLE',
  ENETUNREACH: 'ERR_HOST_UNREACHABLE',
  ENETDOWN: 'ERR_HOST_UNREACHABLE',
  ENOTFOUND: 'ERR_HOST_NOT_FOUND',
  EAI_AGAIN: 'ERR_HOST_NOT_FOUND',
  EAI_NONAME: 'ERR_HOST_NOT_FOUND',
  EAI_FAIL: 'ERR_HOST_NOT_FOUND',
  EACCES: 'ERR_PERMISSION_DENIED',
  EPERM: 'ERR_PERMISSION_DENIED',
};

/**
 * The code that says why a connect failed: a VproxyError's own code (a timeout, a
 * refused handshake, a layer's code), else the generic code of the OS error found
 * in the error or its causes (ECONNREFUSED → ERR_CONNECT_REFUSED, …), else
 * ERR_CONNECT_FAILED. Wrappers use it so a refused and a timed-out backend differ.
 */
export function connectFailureCode(err: unknown): string {
  if (err instanceof VproxyError) return err.code;
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e instanceof Error; depth++) {
    const code = (e as Error & { code?: unknown }).code;
    if (typeof code === 'string') {
      const mapped = BY_OS_CODE[code];
      if (mapped !== undefined) return mapped;
    }
    e = e.cause;
  }
  return 'ERR_CONNECT_FAILED';
}
