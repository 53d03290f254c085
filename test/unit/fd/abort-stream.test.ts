import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { abortStream } from '../../../src/fd/stream-fd.js';

// abortStream resets a TCP connection, except when our side has already started to end:
// Node 20's resetAndDestroy after a shutdown never closes the handle (libuv refuses the
// reset), which leaked one descriptor per abort of a connection its peer had half-closed.

const tcpSockets = () =>
  process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;

let server: Server | null = null;
afterEach(async () => {
  server?.close();
  server = null;
});

/** A client whose server sends `hello` and ends (half-closes) at once. */
async function halfClosedByPeer(): Promise<Socket> {
  server = createServer((s) => {
    s.on('error', () => {});
    s.end('hello');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  client.on('error', () => {});
  client.on('data', () => {});
  return client;
}

async function until(ok: () => boolean, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return ok();
}

describe('abortStream', () => {
  it("closes the handle of a socket that ended itself after the peer's FIN", async () => {
    const before = tcpSockets();
    const client = await halfClosedByPeer();
    // Right after 'end', the socket has begun its own end (allowHalfOpen off) but is not
    // destroyed yet: the moment a reader that failed on the early end aborts it.
    await new Promise<void>((resolve) =>
      client.on('end', () =>
        queueMicrotask(() => {
          expect(client.writableEnded).toBe(true);
          abortStream(client);
          resolve();
        }),
      ),
    );
    expect(client.destroyed).toBe(true);
    expect(await until(() => tcpSockets() <= before)).toBe(true);
  });

  it('still resets a connection that has not ended (the peer sees ECONNRESET)', async () => {
    const accepted: Socket[] = [];
    server = createServer((s) => accepted.push(s));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = connect((server.address() as { port: number }).port, '127.0.0.1');
    await once(client, 'connect');
    await until(() => accepted.length === 1);
    const peer = accepted[0] as Socket;
    const failed = once(peer, 'error');
    abortStream(client);
    const [err] = (await failed) as [NodeJS.ErrnoException];
    expect(err.code).toBe('ECONNRESET');
    peer.destroy();
  });
});
