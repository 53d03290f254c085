import { type Address, formatAddress, toAddress } from '../fd/address.js';
import type { Registry } from '../fd/registry.js';
import { abortStream } from '../fd/stream-fd.js';

export interface ProbeResult {
  readonly ok: boolean;
  /** Time from start to the connect (or to the failure). */
  readonly latencyMs: number;
  readonly error?: Error;
}

export interface ProbeOptions {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

/**
 * ConnectClient: a one-shot reachability probe over any transport (every layer
 * handshake included, so a `tls+tcp` probe fails on a bad certificate). The
 * stream is reset right after connecting, so probes leave no TIME_WAIT behind.
 */
export async function probe(
  registry: Registry,
  address: string | Address,
  options: ProbeOptions,
): Promise<ProbeResult> {
  const target = toAddress(address); // a malformed address is a caller bug: throw, not a probe failure
  const started = performance.now();
  try {
    const fd = await registry.connect(target, options);
    const latencyMs = performance.now() - started;
    abortStream(fd);
    return { ok: true, latencyMs };
  } catch (err) {
    const error = err instanceof Error ? err : new Error(`probe ${formatAddress(target)} failed`);
    return { ok: false, latencyMs: performance.now() - started, error };
  }
}
