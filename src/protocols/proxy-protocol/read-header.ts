import { deadline } from '../../fd/deadline.js';
import { VproxyError } from '../../fd/errors.js';
import { describePeer, type StreamFD } from '../../fd/stream-fd.js';
import { unmapIPv4 } from '../inet.js';
import { readFrame } from '../read-frame.js';
import { type ProxyDecodeOptions, proxyHeaderSpec } from './decode.js';
import type { ProxyHeader, ProxyHeaderInit } from './types.js';

export interface ReadProxyHeaderOptions extends ProxyDecodeOptions {
  /** The whole header must arrive within this time (default 10 s; the spec suggests ≥ 3 s). */
  readonly timeoutMs?: number;
}

const defaultSpec = proxyHeaderSpec();

/**
 * Read the PROXY header a front proxy put at the start of `fd`, leaving every
 * byte after it in the stream. The spec says a receiver must abort on anything
 * that does not match exactly: on a bad, truncated, oversized or late header
 * the stream is destroyed and the promise rejects with a typed error.
 */
export async function readProxyHeader(
  fd: StreamFD,
  options: ReadProxyHeaderOptions = {},
): Promise<ProxyHeader> {
  const { timeoutMs = 10_000, ...decode } = options;
  const spec = Object.keys(decode).length === 0 ? defaultSpec : proxyHeaderSpec(decode);
  const limit = deadline(
    timeoutMs,
    () =>
      new VproxyError(
        'ERR_HANDSHAKE_TIMEOUT',
        `PROXY header from ${describePeer(fd)} not complete after ${timeoutMs} ms`,
      ),
  );
  const guard = () => {};
  fd.on('error', guard);
  try {
    return await readFrame(fd, spec, limit.signal);
  } catch (err) {
    fd.destroy();
    throw err;
  } finally {
    limit.cancel();
    // After a failure the destroyed stream may still report its reset: keep the guard then.
    if (!fd.destroyed) fd.off('error', guard);
  }
}

/**
 * The header a proxy sends for `client` to the backend: the client's address
 * as source, the address it connected to as destination (so a backend sees
 * what it would have seen without the proxy). Without both addresses (a
 * transport that has none) the header says UNKNOWN / UNSPEC.
 */
export function proxyHeaderFor(client: StreamFD): ProxyHeaderInit {
  const { remoteAddress, remotePort, localAddress, localPort } = client;
  if (
    remoteAddress === undefined ||
    remotePort === undefined ||
    localAddress === undefined ||
    localPort === undefined
  ) {
    return { family: 'unspec' };
  }
  return {
    source: { host: unmapIPv4(remoteAddress), port: remotePort },
    destination: { host: unmapIPv4(localAddress), port: localPort },
  };
}
