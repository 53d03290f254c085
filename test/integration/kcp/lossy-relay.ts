import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { relayUpstream } from './relay-upstream.js';

/**
 * A UDP forwarder on 127.0.0.1 between KCP clients and a server at `targetPort`, dropping a
 * fraction of datagrams at random in both directions. Each client source address gets its
 * own upstream socket, so the server sees one peer per client, as without the relay.
 * `blackhole()` silently drops everything from then on (a peer that vanished).
 * `tap` sees every datagram in both directions, dropped ones included (what an
 * observer on the wire would capture).
 */
export class LossyRelay {
  readonly #front: Socket;
  readonly #targetPort: number;
  readonly #upstreams = new Map<string, Socket>();
  loss: number;
  tap: ((datagram: Buffer, direction: 'to-server' | 'to-client') => void) | null = null;
  dropped = 0;
  forwarded = 0;
  /** Drop this many of the next datagrams from clients, whatever `loss` says. */
  dropFromClients = 0;
  #blackholed = false;
  port = 0;

  private constructor(targetPort: number, loss: number) {
    this.#targetPort = targetPort;
    this.loss = loss;
    this.#front = createSocket('udp4');
    this.#front.on('message', (msg, from) => this.#fromClient(msg, from));
    this.#front.on('error', () => {});
  }

  static async start(targetPort: number, loss: number): Promise<LossyRelay> {
    const relay = new LossyRelay(targetPort, loss);
    relay.#front.bind(0, '127.0.0.1');
    await once(relay.#front, 'listening');
    relay.port = relay.#front.address().port;
    return relay;
  }

  blackhole(): void {
    this.#blackholed = true;
  }

  #drop(): boolean {
    if (this.#blackholed || Math.random() < this.loss) {
      this.dropped++;
      return true;
    }
    this.forwarded++;
    return false;
  }

  #dropFromClient(): boolean {
    if (this.dropFromClients > 0) {
      this.dropFromClients--;
      this.dropped++;
      return true;
    }
    return this.#drop();
  }

  #fromClient(msg: Buffer, from: RemoteInfo): void {
    this.tap?.(msg, 'to-server');
    const { socket: up, fresh } = relayUpstream(this.#upstreams, from, this.#targetPort, (back) => {
      this.tap?.(back, 'to-client');
      if (!this.#drop()) this.#front.send(back, from.port, from.address);
    });
    if (fresh) {
      // Datagrams sent before 'connect' would throw: hold this one until then.
      up.once('connect', () => {
        if (!this.#dropFromClient()) up.send(msg);
      });
      return;
    }
    if (this.#dropFromClient()) return;
    try {
      up.send(msg);
    } catch {
      // not connected yet: drop, like a lossy link
    }
  }

  async close(): Promise<void> {
    const all = [this.#front, ...this.#upstreams.values()];
    this.#upstreams.clear();
    await Promise.all(all.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}
