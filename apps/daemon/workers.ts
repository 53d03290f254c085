import { fileURLToPath } from 'node:url';
import type { ResourceStore } from '../../src/control/store.js';
import type { LogFormat, Logger, LogThreshold } from '../../src/fd/logger.js';
import { WorkerHost } from '../../src/workers/host.js';

/** The worker entry next to this file (dist/apps/daemon/worker.js in a build). */
export const WORKER_ENTRY = fileURLToPath(new URL('./worker.js', import.meta.url));

export interface WorkerFlags {
  /** Worker processes of the default `(worker-elg)`; 1 = the main process (no worker). */
  readonly count: number;
  readonly logLevel: LogThreshold;
  readonly logFormat: LogFormat;
  /** Default WORKER_ENTRY. */
  readonly entry?: string;
}

/**
 * Make the store's event loops worker processes where they should be: every
 * loop of an event-loop-group added by command, and with `--workers N` (N > 1)
 * the default `(worker-elg)`, which tcp-lbs use unless told otherwise. With
 * N = 1 the default group stays this process: a small deployment is one process.
 */
export function useWorkers(store: ResourceStore, flags: WorkerFlags, logger: Logger): void {
  const host = new WorkerHost({
    entry: flags.entry ?? WORKER_ENTRY,
    logLevel: flags.logLevel,
    logFormat: flags.logFormat,
    logger,
  });
  store.workers = host;
  if (flags.count <= 1) return;
  const elg = store.elgs.get('(worker-elg)');
  if (elg === undefined) return;
  for (let i = 0; i < flags.count; i++) elg.adopt(host.createLoop(`(worker-el-${i})`));
  // The main process's loop leaves the group: its tcp-lbs run in the workers only.
  void elg.remove('(worker-el)');
}
