import { once } from 'node:events';
import { type Address, formatAddress, formatHostPort } from '../../src/fd/address.js';
import { type LogFormat, type Logger, quietLogger } from '../../src/fd/logger.js';
import type { Registry } from '../../src/fd/registry.js';
import { EventLoopGroup } from '../../src/lb/event-loop-group.js';
import type { HealthCheckConfig } from '../../src/lb/health-config.js';
import { ServerPicker } from '../../src/lb/picker.js';
import { ServerGroup } from '../../src/lb/server-group.js';
import { Upstream } from '../../src/lb/upstream.js';
import { ProxyEngine, type ProxyStats } from '../../src/proxy/proxy.js';
import { checkRetries } from '../../src/proxy/redispatch.js';
import { WorkerHost } from '../../src/workers/host.js';
import { WorkerListener } from '../../src/workers/worker-listener.js';
import { WORKER_ENTRY } from '../daemon/workers.js';

export interface SimpleHealthCheck {
  readonly kind: 'tcp';
  readonly periodMs: number;
  readonly timeoutMs: number;
}

export interface SimpleOptions {
  readonly bind: string;
  readonly backends: readonly string[];
  readonly idleTimeoutMs: number;
  /** A half-closed session closes after this long without traffic (0 = only the idle timeout). */
  readonly finTimeoutMs?: number;
  readonly connectTimeoutMs: number;
  /** A failed backend connect is retried on another backend this many times (default 2). */
  readonly retries?: number;
  /** Active checks; without them every backend counts as up and only redispatch steps around a dead one. */
  readonly healthCheck?: SimpleHealthCheck;
  readonly logger?: Logger;
  readonly accessLog?: Logger;
  /**
   * More than 1: that many worker processes accept on the one bound socket and
   * run the sessions; health checks stay in this process (src/workers). Their
   * log lines (the access log included) go to this process's stderr.
   */
  readonly workers?: number;
  /** The workers' log format (default text). */
  readonly logFormat?: LogFormat;
}

export interface SimpleProxy {
  /** The engine, when the sessions run in this process (no --workers). */
  readonly engine: ProxyEngine | undefined;
  readonly group: ServerGroup;
  stats(): ProxyStats;
  close(): Promise<void>;
}

/**
 * `vproxy simple`: one listener, round robin over a fixed backend list, any
 * transports. The backends form a server group, so health checks, passive
 * detection and redispatch work as they do in a tcp-lb.
 */
export async function runSimple(registry: Registry, options: SimpleOptions): Promise<SimpleProxy> {
  // Parse everything first so a typo fails before anything listens.
  // registry.parse names an unknown scheme before it reads host and port.
  const bind = registry.parse(options.bind);
  const backends = options.backends.map((b) => registry.parse(b));
  if (options.retries !== undefined) checkRetries(options.retries);
  const logger = options.logger ?? quietLogger;
  const check = options.healthCheck;
  const healthCheck: HealthCheckConfig =
    check === undefined
      ? { timeoutMs: 1000, periodMs: 1000, up: 1, down: 1, check: { kind: 'none' } }
      : // One good probe brings a backend in (the first runs at once); two bad ones take it out.
        { timeoutMs: check.timeoutMs, periodMs: check.periodMs, up: 1, down: 2, check };
  const group = new ServerGroup({
    name: 'simple',
    registry,
    healthCheck,
    logger,
    // Ties from the first backend: plain round robin in the order given.
    random: () => 0,
  });
  const servers = backends.map((b, i) => group.add(`backend-${i + 1}`, b));
  if (check !== undefined) await firstChecks(group, check.timeoutMs);
  if ((options.workers ?? 1) > 1) return onWorkers(registry, options, bind, group, logger);
  const server = await registry.listen(bind).catch(async (err: unknown) => {
    await group.close();
    throw err;
  });
  const engine = new ProxyEngine({
    server,
    picker: new ServerPicker(group),
    registry,
    idleTimeoutMs: options.idleTimeoutMs,
    ...(options.finTimeoutMs === undefined ? {} : { finTimeoutMs: options.finTimeoutMs }),
    connectTimeoutMs: options.connectTimeoutMs,
    ...(options.retries === undefined ? {} : { retries: options.retries }),
    logger,
    ...(options.accessLog === undefined ? {} : { accessLog: options.accessLog }),
  });
  const bound = server.address();
  console.log(
    `vproxy simple: listening on ${bind.scheme}://${formatHostPort(bound.host, bound.port)}${bind.path}` +
      ` -> ${backends.map(formatAddress).join(', ')}`,
  );
  const down = servers.filter((s) => !s.healthy);
  if (check !== undefined && down.length > 0) {
    logger.warn('backends-down-at-start', { backends: down.map((s) => s.addressText).join(',') });
  }
  return {
    engine,
    group,
    stats: () => engine.stats(),
    async close() {
      await engine.close();
      await group.close();
    },
  };
}

/** `--workers N`: the listener runs in N worker processes, the group's checks here. */
async function onWorkers(
  registry: Registry,
  options: SimpleOptions,
  bind: Address,
  group: ServerGroup,
  logger: Logger,
): Promise<SimpleProxy> {
  const host = new WorkerHost({
    entry: WORKER_ENTRY,
    logLevel: logger.threshold,
    logFormat: options.logFormat ?? 'text',
    logger,
  });
  const elg = new EventLoopGroup('simple', host.groupOptions());
  const upstream = new Upstream('simple');
  upstream.add(group);
  let lb: WorkerListener | undefined;
  try {
    for (let i = 0; i < (options.workers ?? 1); i++) elg.add(`simple-${i}`);
    lb = await WorkerListener.start({
      name: 'simple',
      address: bind,
      upstream,
      registry,
      eventLoopGroup: elg,
      idleTimeoutMs: options.idleTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs,
      ...(options.finTimeoutMs === undefined ? {} : { finTimeoutMs: options.finTimeoutMs }),
      ...(options.retries === undefined ? {} : { retries: options.retries }),
      logger,
      ...(options.accessLog === undefined ? {} : { accessLog: options.accessLog }),
    });
  } catch (err) {
    await elg.close();
    await group.close();
    throw err;
  }
  const listener = lb as WorkerListener;
  const bound = listener.bound();
  console.log(
    `vproxy simple: listening on ${bind.scheme}://${formatHostPort(bound.host, bound.port)}${bind.path}` +
      ` -> ${group
        .servers()
        .map((s) => s.addressText)
        .join(', ')}` +
      ` (${options.workers} worker processes: ${listener
        .workers()
        .map((w) => w.pid)
        .join(', ')})`,
  );
  return {
    engine: undefined,
    group,
    stats: () => listener.stats(),
    async close() {
      await listener.refresh();
      await listener.close();
      await elg.close();
      await group.close();
    },
  };
}

/** Listen once every backend has had its first probe (at most one probe timeout): no false "no backend" at start. */
async function firstChecks(group: ServerGroup, timeoutMs: number): Promise<void> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs + 100);
  try {
    await Promise.all(
      group.servers().map((s) => once(s.health, 'result', { signal: abort.signal })),
    );
  } catch {
    // The timeout: those still unknown stay DOWN until their check says otherwise.
  } finally {
    clearTimeout(timer);
  }
}
