import { type ChildProcess, fork } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { VproxyError } from '../fd/errors.js';
import { errorFields, type LogFormat, type Logger, type LogThreshold } from '../fd/logger.js';
import { WorkerError } from './errors.js';
import type { FromWorker, ListenerReport, ToWorker } from './protocol.js';

export interface WorkerProcessOptions {
  /** The worker's script (apps/daemon/worker.js in a build). */
  readonly entry: string;
  /** The loop's name: in the worker's log lines. */
  readonly name: string;
  readonly logLevel: LogThreshold;
  readonly logFormat: LogFormat;
  /** Where the supervisor says a worker started, died or was restarted. */
  readonly logger: Logger;
  /** A `shutdown` not done after this long ends in SIGKILL (default 5 s). */
  readonly stopTimeoutMs?: number;
}

type Reply = Extract<FromWorker, { t: 'reply' }>;
/** A request as the caller writes it: the supervisor numbers it. */
export type Request = ToWorker extends infer M
  ? M extends ToWorker
    ? Omit<M, 'seq'>
    : never
  : never;

/** Something that must run on the worker each time it (re)starts: a listener's start. */
export interface Tenant {
  readonly id: string;
  /** The worker is up (first start or a restart): start what runs there. */
  onWorkerStart(worker: WorkerProcess): Promise<void>;
  /** The worker died: its sessions are gone (`last`: the counters it reported last, per listener). */
  onWorkerExit(worker: WorkerProcess, last: Readonly<Record<string, ListenerReport>>): void;
}

interface WorkerProcessEvents {
  /**
   * Counters from the worker, per listener id: pushed, or in the reply to a
   * `query` or `stop` (emitted before the reply resolves, so every report is
   * seen in the order the worker sent it).
   */
  stats: [listeners: Readonly<Record<string, ListenerReport>>];
  /** The process is up and its tenants ran (after the first start and each restart). */
  ready: [pid: number | undefined];
}

const DOWN: Reply = {
  t: 'reply',
  seq: 0,
  ok: false,
  error: { message: 'worker is not running', code: 'ERR_WORKER_DOWN' },
};

/**
 * One worker process and its IPC channel, which this object owns: it forks the
 * process, numbers requests and matches replies, restarts the process when it
 * dies (after 100 ms, backing off to 5 s while it keeps dying young) and, on
 * `close()`, stops it and waits for its exit. Nothing else kills or
 * disconnects the child.
 */
export class WorkerProcess extends EventEmitter<WorkerProcessEvents> {
  readonly name: string;
  readonly #options: WorkerProcessOptions;
  readonly #tenants = new Map<string, Tenant>();
  readonly #pending = new Map<number, (reply: Reply) => void>();
  #child: ChildProcess | undefined;
  #up = false;
  #closed = false;
  #seq = 0;
  #startedAt = 0;
  #restartDelayMs = 100;
  #restartTimer: NodeJS.Timeout | undefined;
  #restarts = 0;
  /** The last counters the running process reported, per listener. */
  #last: Readonly<Record<string, ListenerReport>> = {};
  #starting: Promise<void> | undefined;

  constructor(options: WorkerProcessOptions) {
    super();
    this.name = options.name;
    this.#options = options;
  }

  /** The running process's pid (undefined while it is down). */
  get pid(): number | undefined {
    return this.#up ? this.#child?.pid : undefined;
  }

  get up(): boolean {
    return this.#up;
  }

  /** Times the process was restarted after dying. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Fork the process; resolves once it answered its hello. */
  start(): Promise<void> {
    if (this.#up) return Promise.resolve();
    if (this.#closed)
      return Promise.reject(new VproxyError('ERR_CLOSED', `worker ${this.name} is closed`));
    this.#starting ??= this.#spawn().finally(() => {
      this.#starting = undefined;
    });
    return this.#starting;
  }

  /** Runs on this worker now (if up) and after every restart. */
  async addTenant(tenant: Tenant): Promise<void> {
    this.#tenants.set(tenant.id, tenant);
    if (this.#up) await tenant.onWorkerStart(this);
  }

  removeTenant(id: string): void {
    this.#tenants.delete(id);
  }

  /**
   * Send a request and wait for its reply. A worker that is down (or dies
   * before answering) answers `ok: false` with ERR_WORKER_DOWN: what it missed
   * is replayed by its tenants when it is back.
   */
  request(msg: Request, handle?: unknown): Promise<Reply> {
    const child = this.#child;
    if (!this.#up || child === undefined || !child.connected) return Promise.resolve(DOWN);
    return this.#send(child, msg, handle);
  }

  #send(child: ChildProcess, msg: Request, handle?: unknown): Promise<Reply> {
    const seq = ++this.#seq;
    return new Promise<Reply>((resolve) => {
      this.#pending.set(seq, resolve);
      const full = { ...msg, seq } as ToWorker;
      const onSent = (err: Error | null) => {
        if (err === null) return;
        this.#pending.delete(seq);
        resolve(DOWN);
      };
      // A raw listen handle goes as 'net.Native': the worker listens on it; ours stays open.
      if (handle === undefined) child.send(full, onSent);
      else child.send(full, handle as Parameters<ChildProcess['send']>[1], onSent);
    });
  }

  async #spawn(): Promise<void> {
    const o = this.#options;
    const child = fork(o.entry, [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // Not the daemon's flags (a --inspect port would clash); the same Node.
      execArgv: [],
    });
    this.#child = child;
    this.#startedAt = Date.now();
    child.on('message', (msg: FromWorker) => this.#onMessage(msg));
    child.once('exit', (code, signal) => this.#onExit(child, code, signal));
    // An error event without exit (a failed send) is answered by the send callbacks.
    child.on('error', (err) =>
      o.logger.warn('worker-error', { worker: this.name, ...errorFields(err) }),
    );
    const hello = await this.#send(child, {
      t: 'hello',
      loop: o.name,
      logLevel: o.logLevel,
      logFormat: o.logFormat,
    });
    if (!hello.ok || this.#child !== child) {
      throw new WorkerError('ERR_WORKER_DOWN', `worker ${this.name} did not start`);
    }
    this.#up = true;
    o.logger.info('worker-started', {
      worker: this.name,
      pid: child.pid,
      restarts: this.#restarts,
    });
    for (const tenant of [...this.#tenants.values()]) {
      try {
        await tenant.onWorkerStart(this);
      } catch (err) {
        o.logger.error('worker-tenant-failed', {
          worker: this.name,
          tenant: tenant.id,
          ...errorFields(err),
        });
      }
    }
    this.emit('ready', child.pid);
  }

  #onMessage(msg: FromWorker): void {
    if (msg.t === 'stats') {
      this.#last = msg.listeners;
      this.emit('stats', msg.listeners);
      return;
    }
    if (msg.listeners !== undefined) {
      this.#last = { ...this.#last, ...msg.listeners };
      this.emit('stats', msg.listeners);
    }
    const resolve = this.#pending.get(msg.seq);
    this.#pending.delete(msg.seq);
    resolve?.(msg);
  }

  #onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#child !== child) return;
    const wasUp = this.#up;
    this.#up = false;
    this.#child = undefined;
    for (const resolve of this.#pending.values()) resolve(DOWN);
    this.#pending.clear();
    const last = this.#last;
    this.#last = {};
    if (wasUp) for (const t of this.#tenants.values()) t.onWorkerExit(this, last);
    if (this.#closed) return;
    const lived = Date.now() - this.#startedAt;
    this.#restartDelayMs = lived < 1000 ? Math.min(this.#restartDelayMs * 2, 5000) : 100;
    this.#options.logger.warn('worker-died', {
      worker: this.name,
      pid: child.pid,
      code: code ?? undefined,
      signal: signal ?? undefined,
      restartInMs: this.#restartDelayMs,
    });
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      this.#restarts++;
      this.start().catch((err) => {
        this.#options.logger.error('worker-restart-failed', {
          worker: this.name,
          ...errorFields(err),
        });
      });
    }, this.#restartDelayMs);
  }

  /** Stop the process (its sessions close) and wait for it to exit; no restart after this. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#restartTimer);
    await this.#starting?.catch(() => {});
    const child = this.#child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    const timer = setTimeout(() => child.kill('SIGKILL'), this.#options.stopTimeoutMs ?? 5000);
    if (child.connected) await this.request({ t: 'shutdown' });
    await exited;
    clearTimeout(timer);
  }
}
