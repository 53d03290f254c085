import type { Address } from '../fd/address.js';
import { VproxyError } from '../fd/errors.js';
import type { Registry } from '../fd/registry.js';
import { probe } from '../proxy/connect-client.js';
import { type CheckSpec, resolveHttpCheck } from './health-config.js';
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
  if (registry === undefined) {
    throw new VproxyError(
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
