import { formatHostPort, parseAddress } from '../fd/address.js';
import { isVproxyError, VproxyError } from '../fd/errors.js';

/** The OS error code of `err` or one of its causes (EADDRINUSE, EACCES…). */
function osCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e instanceof Error; depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('E') && !code.startsWith('ERR_')) return code;
    e = e.cause;
  }
  return undefined;
}

function hostPort(address: string): string {
  try {
    const a = parseAddress(address);
    return formatHostPort(a.host, a.port);
  } catch {
    return address;
  }
}

/**
 * A listen that failed, as the user should read it: the OS said EADDRINUSE,
 * the user reads `address 127.0.0.1:8080 is in use` (ERR_ADDRESS_IN_USE: the address
 * is a resource someone else holds, 409 over REST), not "internal error" with
 * the cause on the daemon's stderr. The OS error stays as the cause.
 */
export function listenFailure(err: unknown, address: string): Error {
  if (isVproxyError(err)) return err;
  const where = hostPort(address);
  const code = osCode(err);
  const cause = { cause: err };
  switch (code) {
    case 'EADDRINUSE':
      return new VproxyError('ERR_ADDRESS_IN_USE', `address ${where} is in use`, cause);
    case 'EACCES':
    case 'EPERM':
      return new VproxyError(
        'ERR_PERMISSION_DENIED',
        `permission denied to listen on ${where} (ports below 1024 need privileges)`,
        cause,
      );
    case 'EADDRNOTAVAIL':
      return new VproxyError(
        'ERR_ADDRESS_INVALID',
        `address ${where} is not an address of this host`,
        cause,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new VproxyError('ERR_ADDRESS_INVALID', `cannot resolve the host of ${where}`, cause);
    default:
      return err instanceof Error ? err : new Error(String(err));
  }
}

/** Run a listen; a failure names its cause (see listenFailure). */
export async function listening<T>(address: string, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    throw listenFailure(err, address);
  }
}
