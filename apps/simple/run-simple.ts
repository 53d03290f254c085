import { formatAddress, formatHostPort, parseAddress } from '../../src/fd/address.js';
import type { Registry } from '../../src/fd/registry.js';
import { ProxyEngine } from '../../src/proxy/proxy.js';
import { RoundRobinPicker } from '../../src/proxy/round-robin.js';

export interface SimpleOptions {
  readonly bind: string;
  readonly backends: readonly string[];
  readonly idleTimeoutMs: number;
  /** A half-closed session closes after this long without traffic (0 = only the idle timeout). */
  readonly finTimeoutMs?: number;
  readonly connectTimeoutMs: number;
}

/** `vproxy simple`: one listener, round robin over a fixed backend list, any transports. */
export async function runSimple(registry: Registry, options: SimpleOptions): Promise<ProxyEngine> {
  // Parse everything first so a typo fails before anything listens.
  const bind = parseAddress(options.bind);
  const backends = options.backends.map((b) => parseAddress(b));
  for (const b of backends) registry.resolve(b.scheme);
  const picker = new RoundRobinPicker(backends);
  const server = await registry.listen(bind);
  const proxy = new ProxyEngine({
    server,
    picker,
    registry,
    idleTimeoutMs: options.idleTimeoutMs,
    ...(options.finTimeoutMs === undefined ? {} : { finTimeoutMs: options.finTimeoutMs }),
    connectTimeoutMs: options.connectTimeoutMs,
  });
  proxy.on('error', (err) => console.error(`vproxy simple: ${err.message}`));
  const bound = server.address();
  console.log(
    `vproxy simple: listening on ${bind.scheme}://${formatHostPort(bound.host, bound.port)}` +
      ` -> ${backends.map(formatAddress).join(', ')}`,
  );
  return proxy;
}
