import { formatAddress } from '../fd/address.js';
import { errorFields, type Logger, quietLogger } from '../fd/logger.js';
import type { EventLoop } from '../lb/event-loop.js';
import type { EventLoopGroup, GroupResource } from '../lb/event-loop-group.js';
import type { LbListener, ListenerLogging, RemoteSessions } from '../lb/lb-listener.js';
import type { Server } from '../lb/server.js';
import type { ProxyStats } from '../proxy/proxy.js';
import { remoteError } from './errors.js';
import { WorkerReports } from './fleet-reports.js';
import { FleetSessions, type WorkerSessionInfo } from './fleet-sessions.js';
import { ElsewherePusher } from './fleet-shares.js';
import type { FleetSocket } from './fleet-socket.js';
import type {
  ListenerKind,
  ListenerReport,
  ListenerSpec,
  ListenerState,
  Socks5State,
} from './protocol.js';
import { listenerState } from './state.js';
import type { Tenant, WorkerProcess } from './supervisor.js';
import { UpstreamGroups } from './upstream-groups.js';
import { WorkerEventLoop } from './worker-loop.js';

export type { WorkerSessionInfo } from './fleet-sessions.js';
export { type FleetSocket, fleetSocket, InertServerFD, tcpStack } from './fleet-socket.js';

/** The listener in main whose sessions a fleet runs: its settings and upstream are read live. */
export type FleetOwner = Pick<LbListener, 'name' | 'address' | 'upstream' | 'settings' | 'close'>;

/** The owner's own options (logger, access log, group) are passed as they are. */
export interface FleetOptions extends ListenerLogging {
  readonly kind: ListenerKind;
  readonly owner: FleetOwner;
  readonly eventLoopGroup: EventLoopGroup;
  readonly socket: FleetSocket;
  readonly connectTimeoutMs?: number;
  /** A socks5-server's policy as it is now, sent with the rest of the state. */
  readonly socks5?: () => Socks5State;
}

let listenerIds = 0;
const SYNC_POLL_MS = 1000;

/**
 * The worker side of a listener whose sessions run in the worker processes of
 * its event loop group (a WorkerListener's, a WorkerSocks5Server's): the
 * owner's RemoteSessions. The owner in the main process keeps the control
 * side: the settings (a ProxyEngine that never accepts), the upstream, its
 * health checks and the security group; every change is pushed to the
 * workers as a whole state, in order, by `sync()`. A tcp stack is bound once
 * here and every worker listens on that one socket (the kernel hands each
 * connection to one of them); any other transport (kcp, udp) runs on one
 * worker, which binds it itself. Counters are the sum over the workers
 * (pushed every 200 ms, or fetched by `refresh()`), and each worker's use of
 * a server is added to main's server (ServerLedger); a dead worker's counters
 * stay in the sums, its open sessions are gone, and its restart listens again.
 */
export class WorkerFleet implements GroupResource, Tenant, RemoteSessions {
  readonly id: string;
  readonly #options: FleetOptions;
  readonly #log: Logger;
  /** Whether the workers' copies log each closed session (the owner's access log is on). */
  #accessLog: boolean;
  /** Worker loops this listener runs on, with the slot that makes session ids unique. */
  readonly #loops = new Map<WorkerEventLoop, number>();
  #nextSlot = 1;
  /** The state each worker's copy was last sent (as JSON), so only a change is pushed. */
  readonly #sent = new Map<WorkerProcess, string>();
  #draining = false;
  #syncing: Promise<void> = Promise.resolve();
  #closed = false;
  readonly #onStats = new Map<
    WorkerProcess,
    (s: Readonly<Record<string, ListenerReport>>) => void
  >();
  /** Counters, UDP associations and server use, as each worker reported them. */
  readonly #reports: WorkerReports;
  readonly #sessions: FleetSessions;
  /** UP/DOWN of the upstream's groups is pushed at once. */
  readonly #groups: UpstreamGroups;
  /** Changes made outside the command language (a mesh delegate) reach the workers within this. */
  readonly #poll: NodeJS.Timeout;
  /** Each worker's wlc sees the connections its copy does not hold. */
  readonly #elsewhere: ElsewherePusher;

  constructor(options: FleetOptions) {
    const { owner } = options;
    this.id = `${owner.name}#${++listenerIds}`;
    this.#options = options;
    this.#log = (options.logger ?? quietLogger).child({ listener: owner.name });
    this.#accessLog = options.accessLog !== undefined;
    this.#groups = new UpstreamGroups(owner.upstream, () => this.syncSoon());
    this.#reports = new WorkerReports((group, name, address) =>
      this.#groups.server(group, name, address),
    );
    this.#sessions = new FleetSessions({
      id: this.id,
      loops: this.#loops,
      log: this.#log,
      closed: () => this.#closed,
    });
    this.#elsewhere = new ElsewherePusher({
      groups: () => this.#groups.wlc(),
      workers: () => this.#copies(),
      send: async (worker, servers) =>
        (await worker.request({ t: 'elsewhere', id: this.id, servers })).ok,
    });
    this.#poll = setInterval(() => {
      this.syncSoon();
      // Main's own listeners on the same servers report to nobody: look now and then.
      this.#elsewhere.soon();
    }, SYNC_POLL_MS);
    this.#poll.unref();
  }

  /** The workers whose copy of this listener runs now, with what each copy holds per server. */
  *#copies(): Generator<[WorkerProcess, ReadonlyMap<Server, number>]> {
    for (const loop of this.#loops.keys()) {
      const worker = loop.worker;
      if (!this.#runsOn(loop) || !worker.up || !this.#sent.has(worker)) continue;
      yield [worker, this.#reports.held(worker)];
    }
  }

  /** Join the group and listen on each of its worker loops; on failure the owner closes (and so this). */
  async start(): Promise<void> {
    try {
      this.#options.eventLoopGroup.attach(this);
      for (const loop of this.#options.socket.loops) await this.#join(loop);
    } catch (err) {
      await this.#options.owner.close();
      throw err;
    }
  }

  /** Listening on every worker (shared socket), or on the first one (own socket). */
  get shared(): boolean {
    return this.#options.socket.handle !== undefined;
  }

  /** The worker processes this listener runs on now. */
  workers(): { readonly loop: string; readonly pid: number | undefined }[] {
    return [...this.#loops.keys()]
      .filter((l) => this.#runsOn(l))
      .map((l) => ({ loop: l.name, pid: l.worker.pid }));
  }

  #runsOn(loop: WorkerEventLoop): boolean {
    return this.shared || [...this.#loops.keys()][0] === loop;
  }

  async #join(loop: WorkerEventLoop): Promise<void> {
    if (this.#loops.has(loop)) return;
    this.#loops.set(loop, this.#nextSlot++);
    loop.attach({ id: `listener:${this.id}`, onClose: () => this.#leave(loop) });
    const worker = loop.worker;
    const onStats = (s: Readonly<Record<string, ListenerReport>>) => {
      const mine = s[this.id];
      if (mine !== undefined) this.#take(worker, mine);
    };
    this.#onStats.set(worker, onStats);
    worker.on('stats', onStats);
    await worker.start();
    if (this.#runsOn(loop)) await worker.addTenant(this);
  }

  /** The loop left the group (its process is stopping): keep its counters, move an own socket on. */
  #leave(loop: WorkerEventLoop): void {
    const wasHome = this.#runsOn(loop);
    this.#loops.delete(loop);
    this.#forget(loop.worker);
    loop.worker.removeTenant(this.id);
    const next = [...this.#loops.keys()][0];
    if (!this.shared && wasHome && next !== undefined && !this.#closed) {
      next.worker.addTenant(this).catch((err) => {
        this.#log.error('worker-listener-move-failed', { worker: next.name, ...errorFields(err) });
      });
    }
  }

  /** A worker's report: taken in, and the other workers' view of the servers may have changed. */
  #take(worker: WorkerProcess, report: ListenerReport): void {
    this.#reports.take(worker, report);
    this.#elsewhere.soon();
  }

  /** The worker's copy is gone: its counters stay in the sums, its sessions no longer count as open. */
  #retire(worker: WorkerProcess): void {
    this.#reports.retire(worker);
    this.#elsewhere.forget(worker);
    // The other workers' view of the servers changed.
    this.#elsewhere.soon();
    this.#sent.delete(worker);
  }

  #forget(worker: WorkerProcess): void {
    this.#retire(worker);
    const onStats = this.#onStats.get(worker);
    if (onStats !== undefined) worker.off('stats', onStats);
    this.#onStats.delete(worker);
  }

  // GroupResource: a loop added to the group runs this listener too.
  onEventLoopAdd(loop: EventLoop): void {
    if (!(loop instanceof WorkerEventLoop) || this.#closed) return;
    this.#join(loop).catch((err) => {
      this.#log.error('worker-listener-start-failed', { worker: loop.name, ...errorFields(err) });
    });
  }

  // GroupResource: the group closed (its loops, so our workers, are gone).
  onClose(): void {}

  // Tenant: the worker (re)started; listen there with the state as it is now.
  async onWorkerStart(worker: WorkerProcess): Promise<void> {
    if (this.#closed || this.#draining) return;
    const o = this.#options;
    const { name, address } = o.owner;
    const { fd, listenScheme } = o.socket;
    const state = this.#state();
    const spec: ListenerSpec = {
      id: this.id,
      kind: o.kind,
      name,
      // An own socket bound to port 0 keeps its port across restarts and moves.
      address: formatAddress(
        this.shared || fd.bound.port === 0 ? address : { ...address, port: fd.bound.port },
      ),
      mode: this.shared ? 'shared' : 'own',
      ...(listenScheme === undefined ? {} : { listenScheme }),
      ...(o.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: o.connectTimeoutMs }),
      state,
    };
    const reply = await worker.request({ t: 'start', spec }, o.socket.handle);
    if (!reply.ok) throw remoteError(reply.error);
    if (reply.bound !== undefined && !this.shared) fd.bound = reply.bound;
    this.#sent.set(worker, JSON.stringify(state));
    this.#reports.started(worker);
    // Its copy starts knowing nothing of the other workers' connections.
    this.#elsewhere.forget(worker);
    this.#elsewhere.soon();
  }

  // Tenant: the worker died with its sessions; its counters stay in the sums.
  onWorkerExit(worker: WorkerProcess, last: Readonly<Record<string, ListenerReport>>): void {
    const report = last[this.id];
    if (report !== undefined) this.#take(worker, report);
    this.#retire(worker);
    this.#sessions.dropWorker(worker.name);
  }

  /** The whole state the workers' copies run with, read from the owner now. */
  #state(): ListenerState {
    this.#groups.watch();
    const { owner, socks5 } = this.#options;
    const state = listenerState(owner.settings(), this.#accessLog, owner.upstream);
    return socks5 === undefined ? state : { ...state, socks5: socks5() };
  }

  /**
   * Push the current state to every worker that has not seen it, and each
   * one's count of connections elsewhere; resolves when they applied it (and
   * every push before it: pushes run one at a time, in order).
   */
  sync(): Promise<void> {
    const next = this.#syncing.then(async () => {
      await this.#push();
      await this.#elsewhere.push();
    });
    this.#syncing = next.catch(() => {});
    return next;
  }

  syncSoon(): void {
    this.sync().catch((err) => this.#log.warn('worker-sync-failed', errorFields(err)));
  }

  // RemoteSessions: the owner's settings changed.
  updated(): void {
    this.syncSoon();
  }

  // RemoteSessions: the owner's access log was turned on or off.
  accessLogged(on: boolean): void {
    this.#accessLog = on;
    this.syncSoon();
  }

  async #push(): Promise<void> {
    if (this.#closed) return;
    const state = this.#state();
    const json = JSON.stringify(state);
    await Promise.all(
      [...this.#loops.keys()]
        .filter((l) => this.#runsOn(l) && l.worker.up && this.#sent.get(l.worker) !== json)
        .map(async (l) => {
          this.#sent.set(l.worker, json);
          const reply = await l.worker.request({ t: 'state', id: this.id, state });
          if (!reply.ok && reply.error?.code !== 'ERR_WORKER_DOWN') {
            this.#sent.delete(l.worker);
            this.#log.warn('worker-sync-failed', { worker: l.name, error: reply.error?.message });
          }
        }),
    );
  }

  /** Fetch counters and sessions from every worker now (the counters come with the replies). */
  refresh(): Promise<void> {
    return this.#sessions.refresh();
  }

  /** A socks5-server's UDP associations alive in its workers now. */
  get associations(): number {
    return this.#reports.associations;
  }

  /** A socks5-server's UDP ASSOCIATE requests refused by its workers (at their max), dead ones' included. */
  get associationsRefused(): number {
    return this.#reports.associationsRefused;
  }

  stats(): ProxyStats {
    return this.#reports.stats();
  }

  /** The sessions as of the last `refresh()`, each with its worker and pid (see FleetSessions.list). */
  sessions(): WorkerSessionInfo[] {
    return this.#sessions.list();
  }

  /** Kill a session of the last `refresh()` on whichever worker holds it. */
  kill(id: number): boolean {
    return this.#sessions.kill(id);
  }

  /** Stop accepting on every worker (their sessions go on) and close the shared socket. */
  async drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    await Promise.all(
      [...this.#loops.keys()].map((l) => l.worker.request({ t: 'drain', id: this.id })),
    );
    this.#options.socket.handle?.close();
  }

  /** Stop the listener on every worker (their sessions close) and leave the group. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#poll);
    this.#elsewhere.close();
    this.#groups.close();
    this.#options.eventLoopGroup.detach(this);
    await Promise.all(
      [...this.#loops.keys()].map(async (loop) => {
        loop.detach(`listener:${this.id}`);
        loop.worker.removeTenant(this.id);
        // The reply carries the last counters (taken by the 'stats' event, before forget).
        await loop.worker.request({ t: 'stop', id: this.id });
        this.#forget(loop.worker);
      }),
    );
    this.#loops.clear();
    if (!this.#draining) this.#options.socket.handle?.close();
  }
}
