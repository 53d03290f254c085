import type { Address } from '../fd/address.js';
import { attachDirectReadable, type DirectSink, directReadable } from '../fd/direct-read.js';
import { VproxyError } from '../fd/errors.js';
import { errorFields, type LogFields, type Logger, quietLogger } from '../fd/logger.js';
import type { Registry } from '../fd/registry.js';
import type { StreamFD } from '../fd/stream-fd.js';
import type { ConnectOptions, Transport } from '../fd/transport.js';
import { FrameReader } from '../protocols/frame-reader.js';
import { tunnelSteps } from '../protocols/websocks/socks-stage.js';
import type { BackendChoice, SessionOutcome } from '../proxy/backend-picker.js';
import type { Server } from './server.js';
import type { ServerGroup } from './server-group.js';
import {
  checkReply,
  dialFramed,
  dialServer,
  openFramedTarget,
  openTarget,
  pipelinedAnswersSpec,
  TunnelError,
  upgradeTunnel,
  type WebsocksServerSpec,
} from './websocks-dialer.js';
import { TunnelPool, type TunnelPoolOptions } from './websocks-pool.js';

/** Answers a client before its tunnel's reply, given the stream its request went out on. */
export type EarlyAnswer = (tunnel: StreamFD) => void;

/** The scheme of the synthetic addresses a tunnel choice carries through the proxy engine. */
export const TUNNEL_SCHEME = 'websocks-tunnel';

export interface WebsocksTunnelsOptions {
  readonly registry: Registry;
  /** §3.7 strict mode: one step at a time. */
  readonly strict?: boolean;
  /**
   * The server's 10 bytes and SOCKS5 reply must arrive within this long
   * (default 5 s). On a pooled connection this is the tunnel's ping: one
   * that a NAT or relay dropped silently fails it and is replaced by a fresh
   * connection for the same request.
   */
  readonly pingTimeoutMs?: number;
  /** Pool settings shared by every group (size 0 disables pooling). */
  readonly pool?: Pick<
    TunnelPoolOptions,
    'size' | 'pongIntervalMs' | 'maxIdleMs' | 'backoffMs' | 'handshakeTimeoutMs' | 'refillDelayMs'
  >;
  readonly logger?: Logger;
}

interface GroupEntry {
  readonly symbol: string;
  readonly group: ServerGroup;
  readonly specs: ReadonlyMap<Server, WebsocksServerSpec>;
  readonly pool: TunnelPool;
}

interface Pending {
  readonly entry: GroupEntry;
  readonly server: Server;
  /** Answers the client once the request is on the tunnel (agent.early-reply); absent: after the reply. */
  readonly early: EarlyAnswer | undefined;
}

/** Counters for status lines and tests. */
export interface TunnelCounts {
  /** Tunnels opened on a fresh connection. */
  fresh: number;
  /** Tunnels opened on a pooled connection. */
  pooled: number;
  /** Pooled connections that failed their ping and were replaced. */
  replaced: number;
  /** Tunnels that could not be opened. */
  failed: number;
}

/**
 * Why a tunnel failed, in the words an operator searches for: auth refused,
 * DNS, handshake timeout, connect refused/timeout, target refused.
 */
export function tunnelCause(err: unknown): string {
  if (err instanceof TunnelError) {
    if (err.status === 401) return 'auth refused';
    if (err.status !== null) return `upgrade refused (${err.status})`;
    if (err.stage === 'socks' && err.code === 'ERR_SOCKS5_REQUEST_FAILED') return 'target refused';
  }
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 6; depth++) {
    const code = (e as Error & { code?: unknown }).code;
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ERR_HOST_NOT_FOUND') return 'DNS';
    if (code === 'ERR_HANDSHAKE_TIMEOUT') return 'handshake timeout';
    if (code === 'ERR_CONNECT_TIMEOUT') return 'connect timeout';
    if (code === 'ECONNREFUSED' || code === 'ERR_CONNECT_REFUSED') return 'connect refused';
    if (code === 'ECONNRESET') return 'connection reset';
    e = (e as Error).cause;
  }
  return 'error';
}

/**
 * The agent's tunnels as a transport. The picker makes a choice whose address
 * is `websocks-tunnel://target:port` (the target, not the server) and this
 * object remembers which server of which group it leased; the proxy engine
 * then "connects" through the registry as for any backend, and gets a stream
 * that already carries the target's bytes. Connect timeouts, aborts, retries
 * on another server and per-server counters all stay the engine's and the
 * group's; a target the server could not reach is not held against the server.
 */
export class WebsocksTunnels {
  readonly transport: Transport;
  readonly counts: TunnelCounts = { fresh: 0, pooled: 0, replaced: 0, failed: 0 };
  readonly #o: WebsocksTunnelsOptions;
  readonly #log: Logger;
  readonly #groups = new Map<string, GroupEntry>();
  readonly #pending = new WeakMap<Address, Pending>();
  readonly #failures = new WeakMap<Address, unknown>();

  constructor(options: WebsocksTunnelsOptions) {
    this.#o = options;
    this.#log = options.logger ?? quietLogger;
    this.transport = {
      scheme: TUNNEL_SCHEME,
      options: [],
      connect: (address, opts) => this.#connect(address, opts),
      listen: async () => {
        throw new VproxyError('ERR_NOT_SUPPORTED', `${TUNNEL_SCHEME}:// cannot listen`);
      },
    };
  }

  /** Serve `symbol` with `group`; `specs` says how to reach and greet each of its servers. */
  addGroup(
    symbol: string,
    group: ServerGroup,
    specs: ReadonlyMap<Server, WebsocksServerSpec>,
  ): void {
    const pool = new TunnelPool({
      registry: this.#o.registry,
      group,
      specOf: (s) => specs.get(s),
      size: this.#o.pool?.size ?? 0,
      logger: this.#log,
      ...this.#o.pool,
    });
    this.#groups.set(symbol, { symbol, group, specs, pool });
  }

  group(symbol: string): ServerGroup | undefined {
    return this.#groups.get(symbol)?.group;
  }

  pool(symbol: string): TunnelPool | undefined {
    return this.#groups.get(symbol)?.pool;
  }

  /**
   * A tunnel to `host:port` through a healthy server of `symbol`'s group
   * (wrr), leased until the session ends; null when every server is DOWN.
   * `tried`: addresses of earlier choices for this client that failed — their
   * servers are skipped; when the last one failed because the target refused,
   * no other server is tried (it would say the same). `early`: answer the
   * client as soon as the request is written on a tunnel (agent.early-reply).
   */
  choose(
    symbol: string,
    host: string,
    port: number,
    tried: readonly Address[] = [],
    early?: EarlyAnswer,
  ): BackendChoice | null {
    const entry = this.#groups.get(symbol);
    if (entry === undefined) return null;
    const last = tried[tried.length - 1];
    if (last !== undefined && tunnelCause(this.#failures.get(last)) === 'target refused')
      return null;
    const skip = new Set<Server>();
    for (const a of tried) {
      const p = this.#pending.get(a);
      if (p) skip.add(p.server);
    }
    // A server added to the group by a controller command has no websocks settings: skip it.
    const server = entry.group.next(null, null, (s) => skip.has(s) || !entry.specs.has(s));
    if (server === null) {
      this.#log.warn('tunnel-no-server', {
        group: entry.group.name,
        target: `${host}:${port}`,
        cause: 'server DOWN',
        servers: entry.group.servers().length,
      });
      return null;
    }
    const lease = server.acquire();
    const address: Address = { scheme: TUNNEL_SCHEME, host, port, path: '', options: {} };
    this.#pending.set(address, { entry, server, early });
    const failures = this.#failures;
    return {
      address,
      release(outcome: SessionOutcome): void {
        // A target the server could not reach says nothing about the server.
        const err = failures.get(address);
        if (!outcome.connected && outcome.connectError !== undefined && err !== undefined) {
          if (tunnelCause(err) !== 'target refused') {
            server.reportConnectFailure(outcome.connectError, outcome.redispatched);
          }
        }
        lease.release();
        lease.addBytes(outcome.bytesFromBackend, outcome.bytesToBackend);
      },
      connected(backend: StreamFD): void {
        lease.track(backend);
      },
    };
  }

  async #connect(address: Address, options: ConnectOptions = {}): Promise<StreamFD> {
    const pending = this.#pending.get(address);
    if (pending === undefined) {
      throw new VproxyError('ERR_NOT_SUPPORTED', 'a tunnel address must come from choose()');
    }
    const { entry, server, early } = pending;
    const spec = entry.specs.get(server) as WebsocksServerSpec;
    const { host, port } = address;
    const ping = {
      timeoutMs: this.#o.pingTimeoutMs ?? 5_000,
      strict: this.#o.strict ?? false,
      ...(options.signal ? { signal: options.signal } : {}),
    };
    const fields = (err: unknown): LogFields => ({
      group: entry.group.name,
      server: server.name,
      target: `${host}:${port}`,
      cause: tunnelCause(err),
      ...errorFields(err),
    });
    if (spec.framed !== undefined) {
      return this.#connectFramed(spec, address, options, fields, early);
    }
    const pooled = entry.pool.take(server);
    // Answered early: the client's first bytes may follow the request at once.
    if (pooled !== null && early !== undefined && !ping.strict) {
      return this.#pipelined(pooled, address, early, entry.pool, fields);
    }
    if (pooled !== null) {
      try {
        // openTarget writes the request before its first await: an early answer follows it.
        const opening = openTarget(pooled, host, port, ping);
        early?.(pooled);
        await opening;
        this.counts.pooled++;
        entry.pool.settled();
        return pooled;
      } catch (err) {
        entry.pool.settled();
        if (options.signal?.aborted || tunnelCause(err) === 'target refused') {
          this.#fail(address, err, fields);
          throw err;
        }
        // The ping failed: the pooled connection was dead; open a fresh one for this request.
        this.counts.replaced++;
        this.#log.warn('tunnel-ping-failed', { ...fields(err), pooled: true });
      }
    }
    let fd: StreamFD | undefined;
    try {
      const timing = {
        timeoutMs: options.timeoutMs ?? 10_000,
        ...(options.signal ? { signal: options.signal } : {}),
      };
      fd = await dialServer(this.#o.registry, spec, timing);
      await upgradeTunnel(fd, spec, timing);
      const opening = openTarget(fd, host, port, ping);
      early?.(fd);
      await opening;
      this.counts.fresh++;
      return fd;
    } catch (err) {
      fd?.destroy();
      this.#fail(address, err, fields);
      throw err;
    }
  }

  /**
   * agent.early-reply on a pooled raw-mode tunnel: the request is written, the
   * client answered and the stream handed to the session at once, so the
   * client's first bytes go out right behind the request and wait at the server
   * for the target (one agent ↔ server round trip less than waiting for the
   * reply). The server's answers are taken off the front of what the tunnel
   * reads: in front of the socket's direct reader (tcp, keeping the pump's
   * direct path) or of its Readable side's push (tls, kcp streams). A failure,
   * or no answer within the ping timeout, closes the tunnel and with it the
   * client (told success already). Unlike the other paths, a pooled connection
   * that proves dead is not replaced for this request: its first bytes went into it.
   */
  #pipelined(
    fd: StreamFD,
    address: Address,
    early: EarlyAnswer,
    pool: TunnelPool,
    fields: (err: unknown) => LogFields,
  ): StreamFD {
    const { host, port } = address;
    const steps = tunnelSteps(host, port);
    fd.write(Buffer.concat([steps.frame, steps.greeting, steps.connect]));
    early(fd);
    const progress = { frameDone: false };
    const answers = new FrameReader(pipelinedAnswersSpec(progress));
    let open = true;
    const done = (err: unknown): void => {
      if (!open) return;
      open = false;
      clearTimeout(timer);
      fd.off('close', onClose);
      pool.settled();
      if (err === null) {
        this.counts.pooled++;
        return;
      }
      const stage = progress.frameDone ? 'socks' : 'frame';
      this.#fail(address, new TunnelError(stage, (err as Error).message, null, err), fields);
      fd.destroy(); // no error: the session closes its client as after a FIN
    };
    const ms = this.#o.pingTimeoutMs ?? 5_000;
    const late = `websocks frame/socks5 reply: no answer within ${ms} ms`;
    const timer = setTimeout(() => done(new VproxyError('ERR_HANDSHAKE_TIMEOUT', late)), ms);
    const onClose = () =>
      done(new VproxyError('ERR_PREMATURE_CLOSE', 'the server closed before its reply'));
    fd.once('close', onClose);
    /** The bytes after the answers; null while they are still coming (or failed). */
    const past = (chunk: Buffer): Buffer | null => {
      try {
        const rest = chunk.subarray(answers.feed(chunk));
        if (!answers.done) return null;
        checkReply(answers.result.reply.code, host, port);
        done(null);
        return rest;
      } catch (err) {
        done(err);
        return null;
      }
    };
    const direct = directReadable(fd);
    if (direct !== null) {
      let downstream: DirectSink | null = null;
      direct.setDirectSink((chunk) => {
        const rest = open ? past(chunk) : chunk;
        if (rest === null) return open;
        if (rest.length === 0) return true;
        if (downstream !== null) return downstream(rest);
        // No pump took the stream's reads: they go to its Readable side, as without a sink.
        fd.push(Buffer.from(rest));
        return true;
      });
      attachDirectReadable(fd, {
        setDirectSink: (sink) => {
          downstream = sink;
        },
        retainReadBuffer: () => direct.retainReadBuffer(),
      });
      return fd;
    }
    // The stream's own push, shadowed until the answers are in (then the prototype's again).
    const own = fd as StreamFD & { push: StreamFD['push'] };
    const push = own.push;
    own.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
      if (chunk === null || !Buffer.isBuffer(chunk)) return push.call(fd, chunk, encoding);
      const rest = past(chunk);
      if (open) return true;
      Reflect.deleteProperty(own, 'push');
      return rest === null || rest.length === 0 ? true : push.call(fd, rest);
    };
    return fd;
  }

  async #connectFramed(
    spec: WebsocksServerSpec,
    address: Address,
    options: ConnectOptions,
    fields: (err: unknown) => LogFields,
    early: EarlyAnswer | undefined,
  ): Promise<StreamFD> {
    let fd: StreamFD | undefined;
    try {
      const timing = {
        timeoutMs: options.timeoutMs ?? 10_000,
        ...(options.signal ? { signal: options.signal } : {}),
      };
      fd = await dialFramed(this.#o.registry, spec, timing);
      const opening = openFramedTarget(fd, address.host, address.port, {
        ...timing,
        timeoutMs: this.#o.pingTimeoutMs ?? 5_000,
      });
      early?.(fd);
      await opening;
      this.counts.fresh++;
      return fd;
    } catch (err) {
      fd?.destroy();
      this.#fail(address, err, fields);
      throw err;
    }
  }

  #fail(address: Address, err: unknown, fields: (err: unknown) => LogFields): void {
    this.counts.failed++;
    this.#failures.set(address, err);
    this.#log.warn('tunnel-failed', fields(err));
  }

  close(): void {
    for (const entry of this.#groups.values()) entry.pool.close();
  }
}
