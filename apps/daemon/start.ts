import { createLogger, parseLogFormat, parseLogLevel } from '../../src/fd/logger.js';
import { createDefaultRegistry } from '../../transports/default-registry.js';
import { describeMesh, meshRegistry } from './mesh-flags.js';
import { Daemon } from './run-daemon.js';
import { handleSignals } from './signals.js';
import { statusPages } from './status-pages.js';

// The daemon's start, apart from its option definitions: apps/vproxy.ts imports this
// only when no subcommand was given, so a subcommand's process does not carry the
// daemon's modules (control, mesh, status pages).

/** The daemon's flags as commander gives them. */
export interface DaemonFlags {
  load?: string;
  loadLast: boolean;
  save: boolean;
  stdio: boolean;
  respController: string;
  respPassword?: string;
  httpController: string;
  httpToken?: string;
  pidFile?: string;
  configDir: string;
  allowRemoteFileCommands: boolean;
  logLevel?: string;
  logFormat: string;
  drainTimeout: number;
  etcd?: string;
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdUser?: string;
  etcdPassword?: string;
  etcdLeaseTtl: number;
  workers: number;
}

/** Start the daemon: logger, mesh registry, signals, then the controllers and config. */
export async function startDaemon(flags: DaemonFlags): Promise<void> {
  // One logger for the whole daemon, parsed once from the flags (and VPROXY_LOG).
  const logger = createLogger({
    threshold: parseLogLevel(flags.logLevel ?? process.env.VPROXY_LOG ?? 'info'),
    format: parseLogFormat(flags.logFormat),
  });
  const mesh = meshRegistry(flags, logger);
  logger.info('mesh-registry', describeMesh(flags));
  const daemon = new Daemon(createDefaultRegistry(logger), {
    ...flags,
    mesh,
    autoSaveMs: 3_600_000,
    pages: statusPages,
    logger,
    workers: {
      count: flags.workers,
      logLevel: logger.threshold,
      logFormat: parseLogFormat(flags.logFormat),
    },
  });
  handleSignals(daemon, {
    drainTimeoutMs: flags.drainTimeout,
    save: flags.save,
    print: (line) => console.log(line),
    exit: (code) => process.exit(code),
  });
  await daemon.start();
}
