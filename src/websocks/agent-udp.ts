import { errorFields, type Logger } from '../fd/logger.js';
import type { Registry } from '../fd/registry.js';
import type { StreamFD } from '../fd/stream-fd.js';
import { tunnelCause } from '../lb/websocks-tunnels.js';
import { DatagramDecoder, encodeDatagram } from '../protocols/datagram-frame/index.js';
import type { Socks5UdpRelay } from '../protocols/socks5/udp-relay.js';
import { UDP_TUNNEL_HOST, UDP_TUNNEL_PORT } from '../protocols/websocks/udp-tunnel.js';
import type { BackendChoice } from '../proxy/backend-picker.js';
import type { AgentRouting } from './agent-routing.js';

/** Datagrams held per tunnel while it opens; more are dropped. */
const PENDING_LIMIT = 64;
/** Bytes a tunnel may hold unsent before datagrams are dropped instead (UDP may lose). */
const STREAM_BUFFER_LIMIT = 256 * 1024;
/** After a tunnel could not be opened, its datagrams are dropped this long before a retry. */
const RETRY_AFTER_MS = 5_000;

interface GroupTunnel {
  readonly symbol: string;
  stream: StreamFD | null;
  pending: Buffer[] | null;
  /** Set when opening failed: datagrams are dropped until then. */
  retryAt: number;
}

/** What one association sent and got through tunnels. */
export interface UdpTunnelCounts {
  sent: number;
  received: number;
  dropped: number;
  opened: number;
  failed: number;
}

/**
 * The tunnelled half of one SOCKS5 UDP association of the agent: datagrams
 * whose target the rules send through a server list go, header and all, into
 * one tunnel per list (protocols/websocks/udp-tunnel.ts), opened on the first
 * such datagram through the list's group (health, wrr, pool, ping — as for a
 * TCP target); answers come back ready for the client. Direct targets stay
 * with the relay socket. Closing the association closes its tunnels.
 */
export class AgentUdpTunnels {
  readonly counts: UdpTunnelCounts = { sent: 0, received: 0, dropped: 0, opened: 0, failed: 0 };
  readonly #routing: AgentRouting;
  readonly #registry: Registry;
  readonly #log: Logger;
  readonly #tunnels = new Map<string, GroupTunnel>();
  #relay: Socks5UdpRelay | null = null;
  #closed = false;

  constructor(routing: AgentRouting, registry: Registry, log: Logger) {
    this.#routing = routing;
    this.#registry = registry;
    this.#log = log;
  }

  /** The association's relay, where answers go; its close closes the tunnels. */
  attach(relay: Socks5UdpRelay): void {
    this.#relay = relay;
    relay.once('close', () => this.close());
  }

  /** The relay's divert hook: true when the datagram is this object's (sent, queued or dropped). */
  divert(datagram: Buffer, host: string, port: number): boolean {
    const route = this.#routing.route(host, port);
    if (route.action === 'direct') return false;
    const group = this.#routing.groupFor(route.symbol);
    if (group === undefined || this.#closed) {
      this.counts.dropped++;
      return true;
    }
    let tunnel = this.#tunnels.get(group.name);
    if (tunnel === undefined || (tunnel.retryAt > 0 && Date.now() >= tunnel.retryAt)) {
      tunnel = { symbol: route.symbol, stream: null, pending: [], retryAt: 0 };
      this.#tunnels.set(group.name, tunnel);
      void this.#open(group.name, tunnel);
    }
    const stream = tunnel.stream;
    if (stream !== null) {
      if (stream.destroyed || stream.writableLength > STREAM_BUFFER_LIMIT) this.counts.dropped++;
      else {
        stream.write(encodeDatagram(datagram));
        this.counts.sent++;
      }
    } else if (tunnel.pending !== null && tunnel.pending.length < PENDING_LIMIT) {
      tunnel.pending.push(datagram);
    } else {
      this.counts.dropped++;
    }
    return true;
  }

  async #open(groupName: string, tunnel: GroupTunnel): Promise<void> {
    const choice = this.#routing.tunnels.choose(groupName, UDP_TUNNEL_HOST, UDP_TUNNEL_PORT);
    let stream: StreamFD;
    try {
      if (choice === null) throw new Error('no server of the list is UP');
      stream = await this.#registry.connect(choice.address, { timeoutMs: 10_000 });
    } catch (err) {
      choice?.release?.({ connected: false, bytesToBackend: 0, bytesFromBackend: 0 });
      this.counts.failed++;
      this.counts.dropped += tunnel.pending?.length ?? 0;
      tunnel.pending = null;
      tunnel.retryAt = Date.now() + RETRY_AFTER_MS;
      const cause = tunnelCause(err);
      this.#log.warn('udp-tunnel-failed', {
        group: groupName,
        cause:
          cause === 'target refused'
            ? 'the server does not carry UDP (a reference server?)'
            : cause,
        ...errorFields(err),
      });
      return;
    }
    if (this.#closed || this.#tunnels.get(groupName) !== tunnel) {
      stream.destroy();
      release(choice, stream);
      return;
    }
    this.counts.opened++;
    this.#routing.counts.proxied[tunnel.symbol] =
      (this.#routing.counts.proxied[tunnel.symbol] ?? 0) + 1;
    tunnel.stream = stream;
    for (const d of tunnel.pending ?? []) {
      stream.write(encodeDatagram(d));
      this.counts.sent++;
    }
    tunnel.pending = null;
    const decoder = new DatagramDecoder((d) => {
      // A copy: the view may be of a buffer the transport reuses; the send completes later.
      if (this.#relay?.sendToClient(Buffer.from(d))) this.counts.received++;
      else this.counts.dropped++;
    });
    let ended = false;
    const end = (err?: Error): void => {
      if (ended) return;
      ended = true;
      if (err && this.#log.enabled('debug')) {
        this.#log.debug('udp-tunnel-closed', { group: groupName, ...errorFields(err) });
      }
      if (this.#tunnels.get(groupName) === tunnel) this.#tunnels.delete(groupName);
      stream.destroy();
      release(choice, stream);
    };
    stream.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk);
      } catch (err) {
        end(err as Error);
      }
    });
    stream.on('end', () => end());
    stream.on('error', end);
    stream.on('close', () => end());
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const tunnel of this.#tunnels.values()) {
      tunnel.pending = null;
      tunnel.stream?.destroy();
    }
  }
}

function release(choice: BackendChoice, stream: StreamFD): void {
  choice.release?.({
    connected: true,
    bytesToBackend: stream.bytesWritten,
    bytesFromBackend: stream.bytesRead,
  });
}
