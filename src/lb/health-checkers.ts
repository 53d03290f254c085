import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Address } from '../fd/address.js';
import type { Registry } from '../fd/registry.js';
import { probe } from '../proxy/connect-client.js';
import { LbError } from './errors.js';
import { type CheckSpec, resolveHttpCheck, udpPayload } from './health-config.js';
import { runHttpCheck } from './http-check.js';

export interface CheckRunOptions {
  /** Aborted when the health check gives up (timeout, stop): release everything. */
  readonly signal: AbortSignal;
  readonly timeoutMs: number;
}

/** One kind of active probe. Stateless, so a whole server group shares one. */
export interface HealthChecker {
  readonly kind: CheckSpec['kind'];
  /** Resolves when `target` is healthy, rejects with the reason otherwise. */
  run(target: Address, options: CheckRunOptions): Promise<void>;
}

/** A checker for `spec`; tcp and http checks connect through `registry` (any transport). */
export function createChecker(spec: CheckSpec, registry: Registry | undefined): HealthChecker {
  if (spec.kind === 'none') return noneChecker;
  if (spec.kind === 'udp') return udpChecker(udpPayload(spec));
  if (registry === undefined) {
    throw new LbError(
      'ERR_HEALTH_CHECK_INVALID',
      `invalid health check config: a ${spec.kind} check needs a transport registry`,
    );
  }
  if (spec.kind === 'tcp') return tcpChecker(registry);
  const http = resolveHttpCheck(spec);
  return { kind: 'http', run: (target, options) => runHttpCheck(registry, target, http, options) };
}

const noneChecker: HealthChecker = { kind: 'none', run: async () => {} };

function tcpChecker(registry: Registry): HealthChecker {
  return {
    kind: 'tcp',
    async run(target, options) {
      const result = await probe(registry, target, options);
      if (!result.ok) throw result.error ?? new Error('connect failed');
    },
  };
}

/**
 * One connected UDP socket per probe: the payload goes to the target's host:port
 * (whatever its scheme), any datagram back is healthy, an ICMP port unreachable
 * (ECONNREFUSED on a connected socket) or the timeout is not.
 */
function udpChecker(payload: Buffer): HealthChecker {
  return {
    kind: 'udp',
    run(target, options) {
      return new Promise<void>((resolve, reject) => {
        const socket = createSocket(isIPv6(target.host) ? 'udp6' : 'udp4');
        let done = false;
        const finish = (err?: Error): void => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          options.signal.removeEventListener('abort', onAbort);
          socket.close();
          if (err) reject(err);
          else resolve();
        };
        const onAbort = (): void => finish(new Error('udp check aborted'));
        const timer = setTimeout(
          () => finish(new Error(`no udp answer within ${options.timeoutMs} ms`)),
          options.timeoutMs,
        );
        options.signal.addEventListener('abort', onAbort, { once: true });
        socket.on('message', () => finish());
        socket.on('error', (err) => finish(err));
        socket.connect(target.port, target.host, () => {
          if (!done) socket.send(payload);
        });
      });
    },
  };
}
