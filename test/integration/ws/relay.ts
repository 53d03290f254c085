import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP relay on 127.0.0.1 in front of `targetPort`. `freeze()` makes the path
 * silently dead: both sides stay connected but no byte moves any more (what a
 * peer that vanished, or a black-holed route, looks like from either end).
 */
export interface Relay {
  readonly port: number;
  freeze(): void;
  close(): Promise<void>;
}

export async function startRelay(targetPort: number): Promise<Relay> {
  const sockets = new Set<Socket>();
  let frozen = false;
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  };
  const server: Server = createServer({ allowHalfOpen: true }, (down) => {
    track(down);
    const up = connect({ host: '127.0.0.1', port: targetPort, allowHalfOpen: true });
    track(up);
    const forward = (from: Socket, to: Socket) => {
      from.on('data', (chunk: Buffer) => {
        if (!frozen) to.write(chunk);
      });
      from.on('end', () => {
        if (!frozen) to.end();
      });
      from.on('close', () => {
        if (!frozen) to.destroy();
      });
    };
    forward(down, up);
    forward(up, down);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return {
    port: address.port,
    freeze() {
      frozen = true;
      // Keep reading (and dropping) so nothing pushes back: the path just eats bytes.
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
