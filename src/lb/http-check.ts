import { type Address, formatHostPort } from '../fd/address.js';
import type { VproxyError } from '../fd/errors.js';
import type { Registry } from '../fd/registry.js';
import { abortStream, type StreamFD } from '../fd/stream-fd.js';
import { LbError } from './errors.js';
import { type ResolvedHttpCheck, statusMatches } from './health-config.js';

/** The status line must fit in this many bytes; a server that sends more is unhealthy. */
export const MAX_STATUS_LINE = 1024;

const STATUS_LINE = /^HTTP\/1\.[01] ([1-5][0-9][0-9])(?: [\t\x20-\x7e\x80-\xff]*)?$/;

/** The status code of an HTTP/1.x status line (without CRLF), or null when it is not one. */
export function parseStatusLine(line: string): number | null {
  const m = STATUS_LINE.exec(line);
  return m === null ? null : Number(m[1]);
}

/** The request bytes of a check; `Connection: close` so the server frees the socket at once. */
export function buildCheckRequest(check: ResolvedHttpCheck, target: Address): string {
  const host = check.host ?? formatHostPort(target.host, target.port);
  return (
    `${check.method} ${check.path} HTTP/1.1\r\n` +
    `Host: ${host}\r\n` +
    'User-Agent: vproxy-ts-health-check\r\n' +
    'Accept: */*\r\n' +
    'Connection: close\r\n\r\n'
  );
}

function ignore(): void {}

function failed(message: string, cause?: unknown): VproxyError {
  return new LbError('ERR_HEALTH_CHECK_FAILED', message, { cause });
}

/**
 * An HTTP check over any transport: connect through the registry (so `tls://`
 * makes it an HTTPS check), send one request, read only the status line, then
 * reset the stream. Resolves when the status is expected, rejects otherwise.
 */
export async function runHttpCheck(
  registry: Registry,
  target: Address,
  check: ResolvedHttpCheck,
  options: { readonly signal: AbortSignal; readonly timeoutMs: number },
): Promise<void> {
  const fd = await registry.connect(target, options);
  // From here until the reset, a late socket error must never go unhandled.
  fd.on('error', ignore);
  try {
    fd.write(buildCheckRequest(check, target));
    const status = await readStatus(fd, options.signal);
    if (!statusMatches(status, check.expect)) {
      throw failed(`unexpected status ${status} for ${check.method} ${check.path}`);
    }
  } finally {
    abortStream(fd);
  }
}

/** Wait for the first line of the response; bounded in size and stopped by `signal`. */
function readStatus(fd: StreamFD, signal: AbortSignal): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let head = '';
    const done = (err: Error | null, status = 0) => {
      fd.off('data', onData);
      fd.off('end', onEnd);
      fd.off('close', onEnd);
      fd.off('error', onError);
      signal.removeEventListener('abort', onAbort);
      fd.pause();
      if (err) reject(err);
      else resolve(status);
    };
    const onData = (chunk: Buffer) => {
      // latin1 maps each byte to one character, so lengths are byte counts.
      head += chunk.toString('latin1', 0, Math.min(chunk.length, MAX_STATUS_LINE + 2));
      const eol = head.indexOf('\n');
      if (eol < 0) {
        if (head.length > MAX_STATUS_LINE) done(failed('status line too long'));
        return;
      }
      const line = head.slice(0, eol > 0 && head[eol - 1] === '\r' ? eol - 1 : eol);
      const status = line.length <= MAX_STATUS_LINE ? parseStatusLine(line) : null;
      if (status === null) {
        done(failed(`not an HTTP status line: ${JSON.stringify(line.slice(0, 64))}`));
      } else {
        done(null, status);
      }
    };
    const onEnd = () => done(failed('remote closed before the status line'));
    const onError = (err: Error) => done(failed(`read failed: ${err.message}`, err));
    const onAbort = () => done(failed('aborted', signal.reason));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    fd.on('data', onData);
    fd.on('end', onEnd);
    fd.on('close', onEnd);
    fd.on('error', onError);
  });
}
