import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Address } from '../../src/fd/address.js';
import type { StreamFD } from '../../src/fd/stream-fd.js';
import type { Transport } from '../../src/fd/transport.js';
import { ProxyEngine } from '../../src/proxy/proxy.js';
import { RoundRobinPicker } from '../../src/proxy/round-robin.js';
import { createDefaultRegistry } from '../../transports/default-registry.js';
import { closedPort, readAll, startEchoServer, stopServer } from '../helpers/net.js';

// Session.readAhead: a client's first bytes are read while its backend
// connects, and written in the same turn that sees the connect (as a pipe()
// proxy does), not a loop turn later once reading starts. The backend's
// connect is held open by a `gated` transport until the test lets it finish,
// so "before the backend connects" is a state, not a race.

/** Polls `cond` every few ms until it holds; throws after `ms`. */
async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Gated {
  readonly registry: ReturnType<typeof createDefaultRegistry>;
  /** Let the pending connect go through; resolves to the backend stream. */
  open(): Promise<StreamFD>;
  /** What the proxy wrote to the backend, and the loop turns seen, in order. */
  readonly events: string[];
}

/** A registry whose `gated://host:port` connects over tcp once open() is called. */
function gatedRegistry(): Gated {
  const registry = createDefaultRegistry();
  const events: string[] = [];
  let release: () => void = () => {};
  const released = new Promise<void>((r) => {
    release = r;
  });
  let connected: (fd: StreamFD) => void = () => {};
  const backend = new Promise<StreamFD>((r) => {
    connected = r;
  });
  const transport: Transport = {
    scheme: 'gated',
    options: [],
    async connect(address: Address) {
      await released;
      const fd = await registry.connect(`tcp://${address.host}:${address.port}`);
      const write = fd.write.bind(fd) as (chunk: Buffer) => boolean;
      fd.write = ((chunk: Buffer) => {
        events.push(`write:${Buffer.from(chunk).toString()}`);
        return write(chunk);
      }) as typeof fd.write;
      connected(fd);
      // The engine attaches in a microtask after this resolves; the next turn is later.
      setImmediate(() => events.push('next-turn'));
      return fd;
    },
    listen: () => Promise.reject(new Error('gated: no listen')),
  };
  registry.registerTransport(transport);
  return {
    registry,
    events,
    open: () => {
      release();
      return backend;
    },
  };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setUp() {
  const echo = await startEchoServer();
  cleanups.push(() => stopServer(echo.server, echo.sockets));
  const gated = gatedRegistry();
  const server = await gated.registry.listen('tcp://127.0.0.1:0');
  const accepted: StreamFD[] = [];
  const proxy = new ProxyEngine({
    server,
    registry: gated.registry,
    picker: new RoundRobinPicker([`gated://127.0.0.1:${echo.port}`]),
    gate: (client) => {
      accepted.push(client);
      return true;
    },
  });
  cleanups.push(() => proxy.close());
  const client: Socket = connect({ host: '127.0.0.1', port: server.address().port });
  client.on('error', () => {});
  cleanups.push(() => {
    client.destroy();
  });
  return { gated, proxy, client, accepted };
}

describe('read ahead while the backend connects', () => {
  it('the first bytes are read before the connect and written in the turn that sees it', async () => {
    const { gated, proxy, client } = await setUp();
    client.write('hello');
    await until(() => proxy.sessions()[0]?.bytesFromClient === 5, 'the bytes read ahead');
    expect(proxy.sessions()[0]?.state).toBe('connecting');
    await gated.open();
    await until(() => gated.events.includes('next-turn'), 'the next turn');
    expect(gated.events).toEqual(['write:hello', 'next-turn']);
    // Then the session is an ordinary one: more bytes and the FIN go through.
    client.end(' world');
    expect((await readAll(client)).toString()).toBe('hello world');
  });

  it('a FIN read ahead (no data) reaches the backend once it connects', async () => {
    const { gated, client, accepted } = await setUp();
    client.end();
    await until(() => accepted[0]?.readableEnded === true, 'the FIN read ahead');
    await gated.open();
    // The echo backend ends after our FIN: the client sees its side closed, empty.
    expect((await readAll(client)).length).toBe(0);
  });

  it('bytes read ahead survive a connect failure and a redispatch to the next backend', async () => {
    const echo = await startEchoServer();
    cleanups.push(() => stopServer(echo.server, echo.sockets));
    const refusedPort = await closedPort();
    const gated = gatedRegistry();
    const server = await gated.registry.listen('tcp://127.0.0.1:0');
    const proxy = new ProxyEngine({
      server,
      registry: gated.registry,
      // The first choice refuses; the repick goes to the echo server.
      picker: new RoundRobinPicker([
        `gated://127.0.0.1:${refusedPort}`,
        `gated://127.0.0.1:${echo.port}`,
      ]),
    });
    cleanups.push(() => proxy.close());
    const client = connect({ host: '127.0.0.1', port: server.address().port });
    client.on('error', () => {});
    cleanups.push(() => {
      client.destroy();
    });
    client.write('again');
    await until(() => proxy.sessions()[0]?.bytesFromClient === 5, 'the bytes read ahead');
    void gated.open();
    client.end();
    expect((await readAll(client)).toString()).toBe('again');
    expect(proxy.stats().redispatches).toBe(1);
  });
});
