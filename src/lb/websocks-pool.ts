import { errorFields, type Logger } from '../fd/logger.js';
import type { Registry } from '../fd/registry.js';
import { abortStream, type StreamFD } from '../fd/stream-fd.js';
import { pongFrame } from '../protocols/websocks/constants.js';
import type { Server } from './server.js';
import type { ServerGroup } from './server-group.js';
import { dialServer, upgradeTunnel, type WebsocksServerSpec } from './websocks-dialer.js';

export interface TunnelPoolOptions {
  readonly registry: Registry;
  readonly group: ServerGroup;
  readonly specOf: (server: Server) => WebsocksServerSpec | undefined;
  /** Warm connections kept (upgraded, before the 10-byte frame); 0 disables the pool. */
  readonly size: number;
  /** Every ready connection gets `8A 00` this often (§3.8; default 15 s). */
  readonly pongIntervalMs?: number;
  /** A pooled connection older than this is retired unused (default 60 s, the reference's idle timeout). */
  readonly maxIdleMs?: number;
  /** Dial + upgrade give up after this long (default 5 s). */
  readonly handshakeTimeoutMs?: number;
  /**
   * After a take, the refill waits this long past the end of the taken
   * connection's open (`settled`), so its dial, upgrade and the server's auth
   * check do not compete for the CPU with that open and its first bytes
   * (default 10 ms). A pool down to half its size refills at once.
   */
  readonly refillDelayMs?: number;
  /** First delay after a failed fill; doubles per failure up to 30 s, reset by a success. */
  readonly backoffMs?: number;
  readonly logger: Logger;
}

interface Entry {
  readonly fd: StreamFD;
  readonly server: Server;
  readonly since: number;
  readonly onData: () => void;
  readonly onClose: () => void;
}

/**
 * A warm pool for one server group (§4.6): connections already upgraded (101
 * checked), waiting before the 10-byte frame, so a new proxied connection
 * costs one round trip instead of a dial, a TLS handshake and an upgrade.
 * Idle connections get the PONG keepalive that NATs and CDNs need to see
 * traffic; any byte from the server on an idle connection is a protocol
 * error and closes it; closed or retired ones are refilled, with backoff
 * when the servers keep failing.
 */
export class TunnelPool {
  readonly #o: TunnelPoolOptions;
  readonly #ready: Entry[] = [];
  #filling = 0;
  #failures = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #refillTimer: NodeJS.Timeout | undefined;
  readonly #pongTimer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Connections handed out, refills done and failed (for tests and the status line). */
  readonly counts = { taken: 0, opened: 0, failed: 0, retired: 0 };

  constructor(options: TunnelPoolOptions) {
    this.#o = options;
    if (options.size > 0) {
      this.#pongTimer = setInterval(() => this.#keepalive(), options.pongIntervalMs ?? 15_000);
      this.#pongTimer.unref();
      options.group.on('up', () => this.fill());
      this.fill();
    }
  }

  get readyCount(): number {
    return this.#ready.length;
  }

  /** A ready connection to `server`, removed from the pool (a refill is scheduled), or null. */
  take(server: Server): StreamFD | null {
    const i = this.#ready.findIndex((e) => e.server === server && !e.fd.destroyed);
    if (i < 0) return null;
    const [entry] = this.#ready.splice(i, 1) as [Entry];
    entry.fd.off('data', entry.onData);
    entry.fd.off('close', entry.onClose);
    // Not pause(): a paused socket then never told a 'readable' listener of the reply here
    // (Node 20). The caller attaches its reader in this same tick, which stops the flow.
    this.counts.taken++;
    // Running low: refill now (after the caller's request is written, this tick), since
    // the next opens would otherwise dial. Else `settled` refills, off this open's path.
    if (this.#ready.length + this.#filling < Math.ceil(this.#o.size / 2)) {
      setImmediate(() => this.fill());
    }
    return entry.fd;
  }

  /**
   * The open on a connection from `take` is over (answered or failed): refill
   * shortly, once its first bytes had the CPU. Several opens share one timer.
   */
  settled(): void {
    if (this.#closed || this.#refillTimer !== undefined) return;
    this.#refillTimer = setTimeout(() => {
      this.#refillTimer = undefined;
      this.fill();
    }, this.#o.refillDelayMs ?? 10);
    this.#refillTimer.unref();
  }

  /** Start connections until the pool is (being) filled; one at a time per missing slot. */
  fill(): void {
    if (this.#closed || this.#o.size === 0 || this.#retryTimer !== undefined) return;
    while (this.#ready.length + this.#filling < this.#o.size) {
      const server = this.#o.group.next(null);
      const spec = server === null ? undefined : this.#o.specOf(server);
      if (server === null || spec === undefined) return; // no healthy server: 'up' refills
      if (spec.framed !== undefined) return; // framed tunnels upgrade per connection: no pool
      this.#filling++;
      void this.#open(server, spec);
    }
  }

  async #open(server: Server, spec: WebsocksServerSpec): Promise<void> {
    const timing = { timeoutMs: this.#o.handshakeTimeoutMs ?? 5_000 };
    let fd: StreamFD | null = null;
    try {
      fd = await dialServer(this.#o.registry, spec, timing);
      await upgradeTunnel(fd, spec, timing);
    } catch (err) {
      this.#filling--;
      this.counts.failed++;
      this.#failures++;
      if (fd) abortStream(fd);
      const delay = Math.min(30_000, (this.#o.backoffMs ?? 1_000) * 2 ** (this.#failures - 1));
      this.#o.logger.warn('tunnel-pool-fill-failed', {
        group: this.#o.group.name,
        server: server.name,
        retryInMs: delay,
        ...errorFields(err),
      });
      if (!this.#closed && this.#retryTimer === undefined) {
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = undefined;
          this.fill();
        }, delay);
        this.#retryTimer.unref();
      }
      return;
    }
    this.#filling--;
    this.#failures = 0;
    this.counts.opened++;
    if (this.#closed) {
      abortStream(fd);
      return;
    }
    const entry: Entry = {
      fd,
      server,
      since: Date.now(),
      // §4.6: a server has nothing to say before the frame; bytes mean a broken peer.
      onData: () => this.#drop(entry, 'data on an idle pooled connection'),
      onClose: () => this.#drop(entry, null),
    };
    fd.on('data', entry.onData);
    fd.on('close', entry.onClose);
    fd.on('error', () => {});
    this.#ready.push(entry);
  }

  #drop(entry: Entry, why: string | null): void {
    const i = this.#ready.indexOf(entry);
    if (i >= 0) this.#ready.splice(i, 1);
    if (why !== null)
      this.#o.logger.info('tunnel-pool-dropped', { server: entry.server.name, why });
    abortStream(entry.fd);
    this.fill();
  }

  #keepalive(): void {
    const maxIdle = this.#o.maxIdleMs ?? 60_000;
    const now = Date.now();
    for (const entry of [...this.#ready]) {
      if (now - entry.since >= maxIdle || !entry.server.available) {
        this.counts.retired++;
        this.#drop(entry, null);
      } else {
        entry.fd.write(pongFrame());
      }
    }
  }

  close(): void {
    this.#closed = true;
    if (this.#pongTimer) clearInterval(this.#pongTimer);
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    if (this.#refillTimer) clearTimeout(this.#refillTimer);
    for (const entry of this.#ready.splice(0)) {
      entry.fd.off('close', entry.onClose);
      abortStream(entry.fd);
    }
  }
}
