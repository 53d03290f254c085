import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP relay on 127.0.0.1 in front of `targetPort`, to break connections on
 * purpose: kill() resets every relayed connection (both ends see it at once);
 * freeze() silently stops forwarding on the current ones while keeping them
 * open (a dead path that only a keepalive notices). Later connections relay
 * normally either way.
 */
export class Relay {
  readonly #server: Server;
  readonly #pairs = new Set<[Socket, Socket]>();
  port = 0;

  private constructor(targetPort: number) {
    this.#server = createServer({ allowHalfOpen: true }, (client) => {
      const upstream = connect({ host: '127.0.0.1', port: targetPort, allowHalfOpen: true });
      const pair: [Socket, Socket] = [client, upstream];
      this.#pairs.add(pair);
      for (const s of pair) {
        s.on('error', () => {});
        s.on('close', () => {
          this.#pairs.delete(pair);
          for (const other of pair) other.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  static async start(targetPort: number): Promise<Relay> {
    const relay = new Relay(targetPort);
    relay.#server.listen(0, '127.0.0.1');
    await once(relay.#server, 'listening');
    const address = relay.#server.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    relay.port = address.port;
    return relay;
  }

  get connections(): number {
    return this.#pairs.size;
  }

  kill(): void {
    for (const pair of this.#pairs) for (const s of pair) s.resetAndDestroy();
  }

  /** Stop moving bytes on the current connections; they stay open. */
  freeze(): Set<[Socket, Socket]> {
    const frozen = new Set(this.#pairs);
    for (const [client, upstream] of frozen) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
    return frozen;
  }

  async close(): Promise<void> {
    for (const pair of this.#pairs) for (const s of pair) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
