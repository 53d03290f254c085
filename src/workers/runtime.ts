import type { Address } from '../fd/address.js';
import { VproxyError } from '../fd/errors.js';
import { createLogger, errorFields, type Logger } from '../fd/logger.js';
import type { Registry } from '../fd/registry.js';
import type { LbListener } from '../lb/lb-listener.js';
import { Socks5Server } from '../lb/socks5-server.js';
import { TcpLB } from '../lb/tcp-lb.js';
import { MirrorUpstream } from './mirror.js';
import {
  type FromWorker,
  type ListenerReport,
  type ListenerSpec,
  type ListenerState,
  type Socks5State,
  STATS_PUSH_MS,
  type ToWorker,
} from './protocol.js';
import { securityGroupOf } from './state.js';

/** Listen handles main sent, by `host:port`, until the shared transport's listen takes them. */
export class HandleBook {
  readonly #handles = new Map<string, unknown>();

  put(address: Address, handle: unknown): void {
    this.#handles.set(`${address.host}:${address.port}`, handle);
  }

  /** The handle for `address` (once): the shared transport listens on it. */
  take(address: Address): unknown {
    const key = `${address.host}:${address.port}`;
    const handle = this.#handles.get(key);
    if (handle === undefined) {
      throw new VproxyError('ERR_NOT_FOUND', `no listen handle from the main process for ${key}`);
    }
    this.#handles.delete(key);
    return handle;
  }
}

export interface WorkerRuntimeOptions {
  /** Every transport, plus the base transport `sharedScheme` that listens on a handle from `book`. */
  readonly registry: Registry;
  readonly book: HandleBook;
  /** The base scheme of the shared transport (`shared-tcp`). */
  readonly sharedScheme: string;
}

interface Hosted {
  readonly lb: LbListener;
  readonly mirror: MirrorUpstream;
  state: string;
  /** A socks5-server's user table: one object, its entries replaced by each state. */
  readonly auth: { readonly users: Map<string, string> };
}

/**
 * The data plane of one worker process: listeners started by the main
 * process, their upstreams mirrored from main's state. Messages are applied one
 * at a time in arrival order. The worker exits when main says so or when its
 * IPC channel closes (main is gone: nothing would ever stop this process).
 */
export class WorkerRuntime {
  readonly #options: WorkerRuntimeOptions;
  readonly #hosted = new Map<string, Hosted>();
  #log: Logger = createLogger({ threshold: 'info' });
  #queue: Promise<void> = Promise.resolve();
  #pushed = '';
  #timer: NodeJS.Timeout | undefined;
  #soon = false;
  #closing = false;

  constructor(options: WorkerRuntimeOptions) {
    this.#options = options;
  }

  /** Serve the IPC channel of this process. */
  run(): void {
    if (process.send === undefined) throw new Error('a worker runs as a forked child process');
    process.on('message', (msg: ToWorker, handle: unknown) => {
      this.#queue = this.#queue.then(() => this.#handle(msg, handle));
    });
    process.on('disconnect', () => {
      void this.#shutdown();
    });
    this.#timer = setInterval(() => this.#pushStats(), STATS_PUSH_MS);
    this.#timer.unref();
  }

  async #handle(msg: ToWorker, handle: unknown): Promise<void> {
    try {
      const extra = await this.#apply(msg, handle);
      this.#send({ t: 'reply', seq: msg.seq, ok: true, ...extra });
    } catch (err) {
      const e = err as { message?: string; code?: string };
      this.#send({
        t: 'reply',
        seq: msg.seq,
        ok: false,
        error: { message: e.message ?? String(err), ...(e.code ? { code: e.code } : {}) },
      });
    }
  }

  async #apply(
    msg: ToWorker,
    handle: unknown,
  ): Promise<{
    listeners?: Record<string, ListenerReport>;
    found?: boolean;
    bound?: { host: string; port: number };
  }> {
    switch (msg.t) {
      case 'hello':
        this.#log = createLogger({ threshold: msg.logLevel, format: msg.logFormat }).child({
          worker: msg.loop,
          pid: process.pid,
        });
        return {};
      case 'start': {
        const b = (await this.#start(msg.spec, handle)).bound();
        return { bound: { host: b.host, port: b.port } };
      }
      case 'state': {
        const hosted = this.#mustGet(msg.id);
        this.#applyState(hosted, msg.state);
        return {};
      }
      case 'stop': {
        const hosted = this.#hosted.get(msg.id);
        this.#hosted.delete(msg.id);
        if (hosted === undefined) return {};
        await hosted.lb.close();
        // Its last counters: what its sessions carried until they closed.
        return { listeners: { [msg.id]: report(hosted) } };
      }
      case 'drain':
        await this.#hosted.get(msg.id)?.lb.stopAccepting();
        return {};
      case 'kill':
        return { found: this.#hosted.get(msg.id)?.lb.kill(msg.session) ?? false };
      case 'elsewhere':
        // A listener stopped meanwhile has nothing to balance.
        this.#hosted.get(msg.id)?.mirror.setElsewhere(msg.servers);
        return {};
      case 'query': {
        const listeners: Record<string, ListenerReport> = {};
        for (const [id, h] of this.#hosted) {
          listeners[id] = { ...report(h), sessions: h.lb.sessions() };
        }
        return { listeners };
      }
      case 'shutdown':
        await this.#shutdown();
        return {};
    }
  }

  async #start(spec: ListenerSpec, handle: unknown): Promise<LbListener> {
    if (this.#hosted.has(spec.id)) {
      throw new VproxyError('ERR_ALREADY_EXISTS', `listener ${spec.id} already runs here`);
    }
    const { registry, book, sharedScheme } = this.#options;
    let address = registry.parse(spec.address);
    if (spec.mode === 'shared') {
      if (handle === undefined) throw new VproxyError('ERR_NOT_FOUND', 'no listen handle sent');
      book.put(address, handle);
      address = { ...address, scheme: sharedStack(spec.listenScheme, sharedScheme) };
    }
    const mirror = new MirrorUpstream(spec.state.upstream, () => this.#pushSoon());
    const s = spec.state.settings;
    const common = {
      name: spec.name,
      address,
      upstream: mirror.upstream,
      registry,
      securityGroup: securityGroupOf(spec.state.securityGroup),
      idleTimeoutMs: s.idleTimeoutMs,
      finTimeoutMs: s.finTimeoutMs,
      inBufferSize: s.inBufferSize,
      outBufferSize: s.outBufferSize,
      retries: s.retries,
      logger: this.#log,
      ...(s.accessLog ? { accessLog: this.#log } : {}),
      ...(spec.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: spec.connectTimeoutMs }),
    };
    const auth = { users: new Map<string, string>() };
    let lb: LbListener;
    if (spec.kind === 'socks5-server') {
      const p = spec.state.socks5;
      lb = await Socks5Server.start({
        ...common,
        allowNonBackend: p?.allowNonBackend ?? false,
        udp: p?.udp ?? false,
      });
      applySocks5(lb as Socks5Server, auth, p);
    } else {
      lb = await TcpLB.start({
        ...common,
        ...(spec.acceptProxyProtocol ? { acceptProxyProtocol: true } : {}),
        ...(spec.sendProxyProtocol === undefined
          ? {}
          : { sendProxyProtocol: spec.sendProxyProtocol }),
      });
    }
    this.#hosted.set(spec.id, { lb, mirror, state: JSON.stringify(spec.state), auth });
    this.#log.debug('worker-listener-started', {
      listener: spec.name,
      kind: spec.kind,
      mode: spec.mode,
    });
    return lb;
  }

  #applyState(hosted: Hosted, state: ListenerState): void {
    const json = JSON.stringify(state);
    if (json === hosted.state) return;
    const old = JSON.parse(hosted.state) as ListenerState;
    hosted.state = json;
    hosted.mirror.apply(state.upstream);
    const s = state.settings;
    const sgChanged = JSON.stringify(old.securityGroup) !== JSON.stringify(state.securityGroup);
    hosted.lb.update({
      idleTimeoutMs: s.idleTimeoutMs,
      finTimeoutMs: s.finTimeoutMs,
      inBufferSize: s.inBufferSize,
      outBufferSize: s.outBufferSize,
      retries: s.retries,
      ...(sgChanged ? { securityGroup: securityGroupOf(state.securityGroup) } : {}),
    });
    if (s.accessLog !== old.settings.accessLog) {
      hosted.lb.setAccessLog(s.accessLog ? this.#log : undefined);
    }
    if (hosted.lb instanceof Socks5Server) applySocks5(hosted.lb, hosted.auth, state.socks5);
  }

  #mustGet(id: string): Hosted {
    const hosted = this.#hosted.get(id);
    if (hosted === undefined) throw new VproxyError('ERR_NOT_FOUND', `no listener ${id} here`);
    return hosted;
  }

  /**
   * A connect failed: main hears of it now, not at the next tick, so its
   * passive health check can take the server DOWN for every worker at once.
   */
  #pushSoon(): void {
    if (this.#soon) return;
    this.#soon = true;
    setImmediate(() => {
      this.#soon = false;
      this.#pushStats();
    });
  }

  #pushStats(): void {
    if (this.#hosted.size === 0 || this.#closing) return;
    const listeners: Record<string, ListenerReport> = {};
    for (const [id, h] of this.#hosted) listeners[id] = report(h);
    const json = JSON.stringify(listeners);
    if (json === this.#pushed) return;
    this.#pushed = json;
    this.#send({ t: 'stats', listeners });
  }

  #send(msg: FromWorker): void {
    if (process.connected) process.send?.(msg);
  }

  async #shutdown(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    clearInterval(this.#timer);
    const all = [...this.#hosted.values()];
    this.#hosted.clear();
    const results = await Promise.allSettled(all.map((h) => h.lb.close()));
    for (const r of results) {
      if (r.status === 'rejected') this.#log.warn('worker-close-failed', errorFields(r.reason));
    }
    // The reply to `shutdown` goes out first; then the channel closes and the process ends.
    setImmediate(() => {
      if (process.connected) process.disconnect();
      process.exitCode = 0;
      // Anything a closed listener left behind must not keep an orphan alive.
      setTimeout(() => process.exit(0), 2000).unref();
    });
  }
}

/**
 * A socks5-server's policy as main has it. The user table is one object whose
 * entries are replaced (its credential checker reads it at check time).
 */
function applySocks5(
  lb: Socks5Server,
  auth: { readonly users: Map<string, string> },
  p: Socks5State | undefined,
): void {
  if (p === undefined) return;
  lb.allowNonBackend = p.allowNonBackend;
  lb.udp = p.udp;
  lb.maxAssociations = p.maxAssociations;
  lb.udpIdleTimeoutMs = p.udpIdleTimeoutMs;
  auth.users.clear();
  for (const [name, password] of p.users) auth.users.set(name, password);
  lb.auth = auth.users.size > 0 ? auth : 'none';
}

/** A listener's counters and its servers' (and a socks5-server's associations), as main adds them up. */
function report(h: Hosted): ListenerReport {
  const out = { stats: h.lb.stats(), servers: h.mirror.serverTotals() };
  if (!(h.lb instanceof Socks5Server)) return out;
  return { ...out, udp: { associations: h.lb.associations, refused: h.lb.associationsRefused } };
}

/** `tcp` → `shared-tcp`, `tls+tcp` → `tls+shared-tcp`: the same stack over the shared socket. */
export function sharedStack(listenScheme: string | undefined, sharedScheme: string): string {
  if (listenScheme === undefined) return sharedScheme;
  const parts = listenScheme.split('+');
  parts[parts.length - 1] = sharedScheme;
  return parts.join('+');
}
