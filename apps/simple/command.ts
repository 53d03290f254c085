import { createLogger, type Logger, parseLogFormat } from '../../src/fd/logger.js';
import { LbError } from '../../src/lb/errors.js';
import { createDefaultRegistry } from '../../transports/default-registry.js';
import { accessLogSink, logLevelFrom } from './logging.js';
import { isDatagramMode, runSimpleDatagram } from './run-datagram.js';
import { runSimple, type SimpleHealthCheck } from './run-simple.js';

/** The `simple` command's flags as commander gives them (with the program's, if it has the same). */
export interface SimpleFlags {
  readonly bind: string;
  readonly backend: string[];
  readonly idleTimeout: number;
  /** Datagram mode: a UDP flow idle this long closes (default 60 s). */
  readonly udpIdleTimeout?: number;
  readonly finTimeout: number;
  readonly connectTimeout: number;
  readonly retries: number;
  readonly healthCheck: string;
  readonly healthPeriod: number;
  readonly healthTimeout: number;
  readonly logLevel?: string;
  readonly logFormat?: string;
  readonly accessLog?: string | true;
  /** Worker processes that run the sessions (1 = this process). */
  readonly workers?: number;
}

function healthCheckFrom(flags: SimpleFlags): SimpleHealthCheck | undefined {
  if (flags.healthCheck === 'none') return undefined;
  if (flags.healthCheck === 'tcp') {
    return { kind: 'tcp', periodMs: flags.healthPeriod, timeoutMs: flags.healthTimeout };
  }
  throw new LbError(
    'ERR_HEALTH_CHECK_INVALID',
    `invalid health check ${JSON.stringify(flags.healthCheck)}: tcp or none`,
  );
}

/** Parse the flags, start the proxy, stop it on SIGINT / SIGTERM with a one-line summary. */
export async function startSimple(flags: SimpleFlags): Promise<void> {
  const format = parseLogFormat(flags.logFormat ?? 'text');
  const logger = createLogger({
    threshold: logLevelFrom(flags.logLevel, process.env.VPROXY_LOG),
    format,
  });
  // Before anything listens: a signal right after the "listening" line must stop the
  // proxy, not kill the process with the default action.
  const stopSignal = stopRequested();
  const registry = createDefaultRegistry(logger);
  if (isDatagramMode(flags.bind, flags.backend)) {
    await startDatagram(flags, registry, logger, stopSignal);
    return;
  }
  const healthCheck = healthCheckFrom(flags);
  const access =
    flags.accessLog === undefined ? undefined : accessLogSink(flags.accessLog, format, logger);
  const proxy = await runSimple(registry, {
    bind: flags.bind,
    backends: flags.backend,
    idleTimeoutMs: flags.idleTimeout,
    finTimeoutMs: flags.finTimeout,
    connectTimeoutMs: flags.connectTimeout,
    retries: flags.retries,
    logger,
    ...(healthCheck === undefined ? {} : { healthCheck }),
    ...(access === undefined ? {} : { accessLog: access.logger }),
    ...((flags.workers ?? 1) > 1 ? { workers: flags.workers, logFormat: format } : {}),
  });
  const stop = () => {
    void proxy
      .close()
      .then(() => access?.close())
      // Pooled sessions of mux / kcp backends, which would keep the process a minute.
      .then(() => registry.close())
      .then(() => {
        const s = proxy.stats();
        console.log(
          `vproxy simple: stopped after ${s.accepted} connections, ${s.bytesIn} bytes in, ${s.bytesOut} out`,
        );
      });
  };
  void stopSignal.then(stop);
}

async function startDatagram(
  flags: SimpleFlags,
  registry: ReturnType<typeof createDefaultRegistry>,
  logger: Logger,
  stopSignal: Promise<void>,
): Promise<void> {
  const proxy = await runSimpleDatagram(registry, {
    bind: flags.bind,
    backends: flags.backend,
    udpIdleTimeoutMs: flags.udpIdleTimeout ?? 60_000,
    connectTimeoutMs: flags.connectTimeout,
    logger,
  });
  const stop = () => {
    void proxy
      .close()
      // Pooled sessions of mux / kcp backends, which would keep the process a minute.
      .then(() => registry.close())
      .then(() => {
        const s = proxy.stats();
        console.log(
          `vproxy simple: stopped after ${s.totalFlows} flows, ${s.datagramsIn} datagrams in, ${s.datagramsOut} out`,
        );
      });
  };
  void stopSignal.then(stop);
}

/** Resolves on the first SIGINT or SIGTERM. */
function stopRequested(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}
