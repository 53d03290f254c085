import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import type { BoundAddress, ServerFD, ServerFDEvents } from '../../src/fd/server-fd.js';
import { KcpStream } from '../kcp/session/kcp-stream.js';
import type { SessionConfig } from '../kcp/session/session.js';
import type { PacketCrypt } from '../kcpgo-crypt/index.js';
import { type KcptunConfig, kcpOptions, makeCrypt } from './config.js';
import { KcptunEndpoint, type KcptunEndpointOptions } from './endpoint.js';
import { SmuxConnection, type SmuxConnectionOptions } from './smux-conn.js';
import type { SmuxStream } from './smux-stream.js';

const KIND = 'kcptun';

function endpointOptions(c: KcptunConfig, crypt: PacketCrypt): KcptunEndpointOptions {
  const session: SessionConfig = {
    kcp: kcpOptions(c, crypt),
    // kcptun has no KCP idle timeout: smux's keepalive decides when a link is dead.
    idleTimeoutMs: 0,
    closeTimeoutMs: 2000,
  };
  return {
    session,
    crypt,
    dataShards: c.datashard,
    parityShards: c.parityshard,
    maxSessions: 4096,
    sockbuf: c.sockbuf,
    ackNoDelay: c.acknodelay,
  };
}

function smuxOptions(c: KcptunConfig, client: boolean): SmuxConnectionOptions {
  return {
    version: c.smuxver,
    client,
    compress: !c.nocomp,
    keepAliveMs: c.keepalive * 1000,
    maxReceiveBuffer: c.smuxbuf,
    maxStreamBuffer: c.streambuf,
    kind: KIND,
  };
}

interface Slot {
  conn: SmuxConnection | null;
  pending: Promise<SmuxConnection> | null;
  expiresAt: number;
}

/**
 * kcptun's client side: `conn` KCP connections to the server, each a smux session
 * (compressed unless nocomp); streams are opened round-robin over them. A connection
 * that died, or (autoexpire) is older than autoexpire seconds, is replaced for new
 * streams; an expired one lives on for its streams, at most scavengettl seconds.
 */
export class KcptunClient {
  readonly config: KcptunConfig;
  readonly #host: string;
  readonly #port: number;
  readonly #crypt: PacketCrypt;
  readonly #slots: Slot[];
  readonly #retired = new Set<SmuxConnection>();
  #rr = 0;
  #closed = false;
  readonly #idleMs: number;
  #idleCheck: NodeJS.Timeout | null = null;
  #busyAt = 0;

  /** `idleMs` > 0: connections close once no stream has been open for that long. */
  constructor(host: string, port: number, config: KcptunConfig, idleMs = 0) {
    this.config = config;
    this.#idleMs = idleMs;
    this.#host = host;
    this.#port = port;
    this.#crypt = makeCrypt(config);
    this.#slots = Array.from({ length: config.conn }, () => ({
      conn: null,
      pending: null,
      expiresAt: 0,
    }));
  }

  /** Opens a stream on the next connection (dialled when needed). */
  async openStream(): Promise<SmuxStream> {
    const slot = this.#slots[this.#rr++ % this.#slots.length] as Slot;
    this.#watchIdle();
    const conn = await this.#connection(slot);
    return conn.openStream();
  }

  /** Open connections (for tests and status). */
  get connectionCount(): number {
    return this.#liveConnections().length;
  }

  #liveConnections(): SmuxConnection[] {
    return this.#slots.flatMap((s) => (s.conn !== null && !s.conn.isClosed ? [s.conn] : []));
  }

  /**
   * Closes the connections once none has had a stream for idleMs; the next openStream
   * dials again (a KCP conversation has no handshake, so that costs no round trip).
   */
  #watchIdle(): void {
    this.#busyAt = Date.now();
    if (this.#idleMs <= 0 || this.#idleCheck !== null) return;
    const check = setInterval(
      () => {
        const live = this.#liveConnections();
        const dialling = this.#slots.some((s) => s.pending !== null);
        if (dialling || live.some((c) => c.streamCount > 0)) this.#busyAt = Date.now();
        else if (Date.now() - this.#busyAt >= this.#idleMs) {
          for (const c of live) c.close();
          for (const s of this.#slots) s.conn = null;
        }
        if (!dialling && this.connectionCount === 0) {
          clearInterval(check);
          this.#idleCheck = null;
        }
      },
      Math.max(10, Math.min(1000, Math.floor(this.#idleMs / 4))),
    );
    check.unref();
    this.#idleCheck = check;
  }

  /** Closes every connection and its streams. */
  close(): void {
    this.#closed = true;
    if (this.#idleCheck !== null) clearInterval(this.#idleCheck);
    this.#idleCheck = null;
    for (const s of this.#slots) s.conn?.close();
    for (const c of this.#retired) c.close();
    this.#retired.clear();
  }

  #connection(slot: Slot): Promise<SmuxConnection> {
    const c = this.config;
    const current = slot.conn;
    if (current !== null && !current.isClosed) {
      if (c.autoexpire <= 0 || Date.now() < slot.expiresAt) return Promise.resolve(current);
      this.#retire(current);
    }
    slot.conn = null;
    slot.pending ??= this.#dial().then(
      (conn) => {
        slot.pending = null;
        slot.conn = conn;
        slot.expiresAt = Date.now() + c.autoexpire * 1000;
        return conn;
      },
      (err: unknown) => {
        slot.pending = null;
        throw err;
      },
    );
    return slot.pending;
  }

  /** kcptun's scavenger: an expired connection closes when idle, or after scavengettl. */
  #retire(conn: SmuxConnection): void {
    this.#retired.add(conn);
    const deadline = Date.now() + this.config.scavengettl * 1000;
    const check = setInterval(() => {
      if (conn.isClosed || conn.streamCount === 0 || Date.now() >= deadline) {
        clearInterval(check);
        this.#retired.delete(conn);
        conn.close();
      }
    }, 1000);
    check.unref();
  }

  async #dial(): Promise<SmuxConnection> {
    if (this.#closed) throw new Error('kcptun client is closed');
    const ip = isIP(this.#host) ? this.#host : (await lookup(this.#host)).address;
    const endpoint = await KcptunEndpoint.connect(
      ip,
      this.#port,
      endpointOptions(this.config, this.#crypt),
    );
    const session = endpoint.openSession({ host: ip, port: this.#port }, randomConv());
    const fd = new KcpStream(session, endpoint.address(), KIND);
    fd.on('error', () => {}); // the smux connection hears it through 'close' and fails its streams
    return new SmuxConnection(fd, smuxOptions(this.config, true));
  }
}

function randomConv(): number {
  return randomBytes(4).readUInt32LE(0);
}

/**
 * kcptun's server side as a ServerFD: every KCP session from a client address is a smux
 * session, and every stream the client opens is a 'connection'.
 */
export class KcptunServer extends EventEmitter<ServerFDEvents> implements ServerFD {
  readonly kind = KIND;
  readonly config: KcptunConfig;
  endpoint!: KcptunEndpoint;
  readonly #conns = new Set<SmuxConnection>();
  #closing = false;

  private constructor(config: KcptunConfig) {
    super();
    this.config = config;
  }

  static async listen(host: string, port: number, config: KcptunConfig): Promise<KcptunServer> {
    const server = new KcptunServer(config);
    const crypt = makeCrypt(config);
    server.endpoint = await KcptunEndpoint.listen(
      host,
      port,
      endpointOptions(config, crypt),
      (session) => {
        const fd = new KcpStream(session, server.address(), KIND);
        fd.on('error', () => {});
        const conn = new SmuxConnection(fd, smuxOptions(config, false));
        server.#conns.add(conn);
        conn.on('stream', (s) => {
          // A closed listener takes no new connections, on old sessions either.
          if (server.#closing) s.destroy();
          else server.emit('connection', s);
        });
        conn.on('idle', () => {
          if (server.#closing) conn.close();
        });
        conn.on('close', () => server.#conns.delete(conn));
      },
    );
    return server;
  }

  address(): BoundAddress {
    return this.endpoint.address();
  }

  /**
   * Stops accepting; a session ends with its last open stream (at once if it has none), and
   * the socket closes with the last session. kcptun's own server keeps idle sessions until
   * smux's keepalive gives up on them, but a closed listener has no use for one: a client
   * that vanished kept the socket open for that long (30 s) after close().
   */
  close(): Promise<void> {
    this.#closing = true;
    for (const c of [...this.#conns]) if (c.streamCount === 0) c.close();
    return this.endpoint.close();
  }

  /** Closes every session and the socket. */
  async abort(): Promise<void> {
    for (const c of [...this.#conns]) c.close();
    await this.endpoint.abort();
  }
}
