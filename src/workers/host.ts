import type { Address } from '../fd/address.js';
import type { LogFormat, Logger, LogThreshold } from '../fd/logger.js';
import type { Registry } from '../fd/registry.js';
import type { EventLoop } from '../lb/event-loop.js';
import type { EventLoopGroup, EventLoopGroupOptions } from '../lb/event-loop-group.js';
import type { ListenerLogging, ListenerSettings } from '../lb/lb-listener.js';
import type { Upstream } from '../lb/upstream.js';
import { WorkerListener } from './worker-listener.js';
import { WorkerEventLoop } from './worker-loop.js';
import { type WorkerSocks5Options, WorkerSocks5Server } from './worker-socks5.js';

export interface WorkerHostOptions {
  /** The worker entry script (dist/apps/daemon/worker.js). */
  readonly entry: string;
  readonly logLevel: LogThreshold;
  readonly logFormat: LogFormat;
  /** Where worker starts, deaths and restarts are logged. */
  readonly logger: Logger;
}

export interface HostedTcpLbOptions extends Partial<ListenerSettings>, ListenerLogging {
  readonly name: string;
  readonly address: Address;
  readonly upstream: Upstream;
  readonly registry: Registry;
}

/**
 * What the control plane knows of worker processes: how to make a loop that
 * is one, how to start a tcp-lb or a socks5-server on a group's workers, and the two moments it
 * talks to them — after a change (push the new state) and before a read
 * (fetch counters and sessions).
 */
export class WorkerHost {
  readonly #options: WorkerHostOptions;
  readonly #listeners = new Set<WorkerListener | WorkerSocks5Server>();

  constructor(options: WorkerHostOptions) {
    this.#options = options;
  }

  /** A loop that is a worker process (started at once; its owner is the group). */
  createLoop(name: string): EventLoop {
    const { entry, logLevel, logFormat, logger } = this.#options;
    const loop = new WorkerEventLoop(name, { entry, logLevel, logFormat, logger });
    loop.worker.start().catch(() => {
      // Logged by the supervisor, which keeps restarting it.
    });
    return loop;
  }

  /** Options for an EventLoopGroup whose loops are worker processes. */
  groupOptions(): EventLoopGroupOptions {
    return { createLoop: (name) => this.createLoop(name) };
  }

  /** Start a tcp-lb on the worker loops of `elg`; undefined when it has none (it runs in main). */
  async startTcpLb(
    elg: EventLoopGroup,
    options: HostedTcpLbOptions,
  ): Promise<WorkerListener | undefined> {
    const lb = await WorkerListener.start({
      ...options,
      eventLoopGroup: elg,
      onClosed: (closed) => this.#listeners.delete(closed),
    });
    if (lb !== undefined) this.#listeners.add(lb);
    return lb;
  }

  /** Start a socks5-server on the worker loops of `elg`; undefined when it has none (it runs in main). */
  async startSocks5(
    elg: EventLoopGroup,
    options: Omit<WorkerSocks5Options, 'eventLoopGroup' | 'onClosed'>,
  ): Promise<WorkerSocks5Server | undefined> {
    const lb = await WorkerSocks5Server.startOnWorkers({
      ...options,
      eventLoopGroup: elg,
      onClosed: (closed) => this.#listeners.delete(closed),
    });
    if (lb !== undefined) this.#listeners.add(lb);
    return lb;
  }

  /** After a change: every worker listener's state is applied in its workers when this resolves. */
  async sync(): Promise<void> {
    await Promise.all([...this.#listeners].map((l) => l.sync()));
  }

  /** Before a read: counters and sessions as the workers have them now. */
  async refresh(): Promise<void> {
    await Promise.all([...this.#listeners].map((l) => l.refresh()));
  }
}
