import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import { KcptunClient, KcptunServer } from '../../../transports/kcptun/link.js';
import { configFor } from '../../../transports/kcptun/transport.js';

// A kcptun:// dialer is shared by every connect to one address (kcptun's `conn` KCP
// connections). Unlike kcptun's client process, a daemon may stop using a backend: its
// connections (UDP sockets, keepalives) close after session-idle ms without a stream, and
// the next stream dials again.

const OPTIONS = { crypt: 'none', nocomp: true } as const;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function echoServer(): Promise<KcptunServer> {
  const server = await KcptunServer.listen('127.0.0.1', 0, configFor('server', OPTIONS));
  server.on('connection', (fd: StreamFD) => {
    fd.on('error', () => {}); // the client side going away fails the stream
    fd.pipe(fd);
  });
  cleanups.push(() => server.abort());
  return server;
}

async function until(ok: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return ok();
}

/** A client of `server`, closed after the test; `idleMs` as the kcptun:// dialer passes it. */
function clientOf(server: KcptunServer, conn: number, idleMs?: number): KcptunClient {
  const config = configFor('client', { ...OPTIONS, conn });
  const client = new KcptunClient('127.0.0.1', server.address().port, config, idleMs);
  cleanups.push(() => client.close());
  return client;
}

/** A stream whose failure (its connection closed under it) is expected, not thrown. */
async function openStream(client: KcptunClient): Promise<StreamFD> {
  const fd = await client.openStream();
  fd.on('error', () => {});
  return fd;
}

async function echo(fd: StreamFD, text: string): Promise<void> {
  const back = once(fd, 'data');
  fd.write(text);
  expect(String((await back)[0])).toBe(text);
}

describe('kcptun:// dialer (KcptunClient with an idle limit)', () => {
  it('closes its connections after session-idle without streams, and dials again', async () => {
    const client = clientOf(await echoServer(), 2, 150);
    for (const text of ['one', 'two']) {
      const fd = await openStream(client);
      await echo(fd, text);
      fd.destroy();
    }
    expect(client.connectionCount).toBe(2);
    expect(await until(() => client.connectionCount === 0, 5000)).toBe(true);
    const again = await openStream(client);
    await echo(again, 'three');
    expect(client.connectionCount).toBe(1);
    again.destroy();
    expect(await until(() => client.connectionCount === 0, 5000)).toBe(true);
  });

  it('keeps a connection that has an open stream past session-idle', async () => {
    const client = clientOf(await echoServer(), 1, 100);
    const fd = await openStream(client);
    await new Promise((r) => setTimeout(r, 400));
    await echo(fd, 'still here');
    expect(client.connectionCount).toBe(1);
    fd.destroy();
    expect(await until(() => client.connectionCount === 0, 5000)).toBe(true);
  });

  it('without a limit (the kcptun client command) keeps its connections', async () => {
    const client = clientOf(await echoServer(), 1);
    const fd = await openStream(client);
    await echo(fd, 'x');
    fd.destroy();
    await new Promise((r) => setTimeout(r, 300));
    expect(client.connectionCount).toBe(1);
  });
});
