import { LocalEventLoop } from '../lb/event-loop.js';
import { WorkerProcess, type WorkerProcessOptions } from './supervisor.js';

/**
 * An event loop that is a worker process. Listeners of its group run in the
 * process (see WorkerListener); anything else placed on the loop — a server
 * group's health checks — runs on the main process's timers, so each check
 * runs once for the whole daemon and its UP/DOWN is pushed to the workers.
 * The loop owns its WorkerProcess: closing the loop stops the process.
 */
export class WorkerEventLoop extends LocalEventLoop {
  readonly worker: WorkerProcess;

  constructor(name: string, options: Omit<WorkerProcessOptions, 'name'>) {
    super(name);
    this.worker = new WorkerProcess({ ...options, name });
  }

  override async close(): Promise<void> {
    if (this.closed) return;
    try {
      await super.close();
    } finally {
      await this.worker.close();
    }
  }
}
