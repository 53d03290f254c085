import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StreamFD } from '../../src/fd/stream-fd.js';
import { ProxyEngine } from '../../src/proxy/proxy.js';
import { RoundRobinPicker } from '../../src/proxy/round-robin.js';
import { createDefaultRegistry } from '../../transports/default-registry.js';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { expectNoLeakedSockets, snapshotSockets } from '../helpers/handles.js';
import {
  closedPort,
  closedWithin,
  peerClosedWithin,
  readAll,
  startServer,
  stopServer,
} from '../helpers/net.js';

// Connection life cycle through the proxy: half-close both ways, refused
// backends, idle timeout, session kill and resets, for a tcp and a tls front.

const registry = createDefaultRegistry();
let certs: TestCerts;
let baseline: string[];

beforeAll(() => {
  baseline = snapshotSockets();
  certs = makeTestCerts();
});

/** What each test still has open if it failed before closing it itself. */
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of cleanups.splice(0)) await close();
});

afterAll(async () => {
  certs.dispose();
  await expectNoLeakedSockets(baseline);
});

type Front = 'tcp' | 'tls';

/** A proxy on `front` to one plain TCP backend run by `handler`; `dial` connects a client. */
async function setup(
  front: Front,
  handler: (s: Socket) => void,
  opts: { idleTimeoutMs?: number } = {},
) {
  const backend = await startServer(handler);
  return setupTo(front, `127.0.0.1:${backend.port}`, opts, async () => {
    await stopServer(backend.server, backend.sockets);
  });
}

async function setupTo(
  front: Front,
  target: string,
  opts: { idleTimeoutMs?: number },
  cleanup: () => Promise<void> = async () => {},
) {
  const listenAddr =
    front === 'tls'
      ? `tls://127.0.0.1:0?cert=${certs.cert}&cert-key=${certs.key}`
      : 'tcp://127.0.0.1:0';
  const server = await registry.listen(listenAddr);
  const proxy = new ProxyEngine({
    server,
    registry,
    picker: new RoundRobinPicker([target]),
    ...(opts.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: opts.idleTimeoutMs }),
  });
  const port = server.address().port;
  const dial = (): Promise<StreamFD> =>
    registry.connect(
      front === 'tls' ? `tls://localhost:${port}?ca=${certs.caCert}` : `tcp://127.0.0.1:${port}`,
    );
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await proxy.close();
      await cleanup();
    })();
    return closing;
  };
  cleanups.push(close);
  return { proxy, port, dial, close };
}

describe.each<Front>(['tcp', 'tls'])('life cycle with a %s front', (front) => {
  it('client half-closes first: the backend sees EOF and can still answer', async () => {
    const env = await setup(front, (s) => {
      readAll(s).then((data) => s.end(Buffer.concat([Buffer.from('response:'), data])));
    });
    const client = await env.dial();
    client.end('request');
    const answer = await readAll(client);
    expect(answer.toString()).toBe('response:request');
    await closedWithin(client, 2000);
    await env.close();
  });

  it('backend half-closes first: the client sees EOF and can still send', async () => {
    let received: Promise<Buffer> = Promise.resolve(Buffer.alloc(0));
    const env = await setup(front, (s) => {
      received = readAll(s);
      s.end('hello');
    });
    const client = await env.dial();
    const greeting = await readAll(client);
    expect(greeting.toString()).toBe('hello');
    // Our write side is still open after the peer's FIN.
    client.end('late data');
    expect((await received).toString()).toBe('late data');
    await closedWithin(client, 2000);
    await env.close();
  });

  // The bound is what tells a refusal from the 10 s connect timeout; it is loose
  // because a loaded CI machine can stall a process for hundreds of ms, more than once.
  it('a refused backend closes the client at once, not after the connect timeout', async () => {
    const env = await setupTo(front, `127.0.0.1:${await closedPort()}`, {});
    const client = await env.dial();
    client.on('error', () => {});
    const started = performance.now();
    await peerClosedWithin(client, 5000);
    expect(performance.now() - started).toBeLessThan(5000);
    client.destroy();
    expect(env.proxy.stats().connectFailures).toBe(1);
    expect(env.proxy.sessions()).toEqual([]);
    await env.close();
  });

  it('idle timeout closes both sides', async () => {
    const backendClosed: Promise<void>[] = [];
    const env = await setup(
      front,
      (s) => {
        s.on('error', () => {});
        backendClosed.push(peerClosedWithin(s, 3000));
      },
      { idleTimeoutMs: 300 },
    );
    const client = await env.dial();
    client.on('error', () => {});
    const started = performance.now();
    await peerClosedWithin(client, 3000);
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    client.destroy();
    await Promise.all(backendClosed);
    expect(env.proxy.stats().idleTimeouts).toBe(1);
    await env.close();
  });

  it('traffic keeps a session past its idle timeout; silence then closes it', async () => {
    // Ten times the traffic's gaps: with 300 ms, a process stalled 250 ms between two
    // writes (a busy-wait in a scratch copy; a loaded CI machine, a GC pause) was cut.
    const idleMs = 1000;
    const env = await setup(
      front,
      (s) => {
        s.on('error', () => {});
        s.pipe(s);
      },
      { idleTimeoutMs: idleMs },
    );
    const client = await env.dial();
    client.on('error', () => {});
    client.on('data', () => {});
    for (let i = 0; i < 15; i++) {
      client.write('x');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(env.proxy.sessions()).toHaveLength(1);
    expect(env.proxy.stats().idleTimeouts).toBe(0);
    const silent = performance.now();
    await peerClosedWithin(client, idleMs + 5000);
    expect(performance.now() - silent).toBeGreaterThanOrEqual(idleMs - 100);
    expect(env.proxy.stats().idleTimeouts).toBe(1);
    client.destroy();
    await env.close();
  });

  it('lists a session and kills it: both sides are closed', async () => {
    const backendClosed: Promise<void>[] = [];
    const env = await setup(front, (s) => {
      s.on('error', () => {});
      backendClosed.push(peerClosedWithin(s, 3000));
      s.pipe(s);
    });
    const client = await env.dial();
    client.on('error', () => {});
    client.write('ping');
    await once(client, 'data');
    const [info, ...more] = env.proxy.sessions();
    expect(more).toEqual([]);
    expect(info?.state).toBe('established');
    expect(info?.client).toBe(`127.0.0.1:${client.localPort}`);
    expect(info?.bytesFromClient).toBe(4);
    expect(env.proxy.kill(info?.id ?? -1)).toBe(true);
    expect(env.proxy.kill(12345)).toBe(false);
    await peerClosedWithin(client, 2000);
    client.destroy();
    await Promise.all(backendClosed);
    await env.close();
  });
});

describe('resets and bad clients', () => {
  it('a client reset reaches the backend as a reset', async () => {
    let backendError: Promise<Error> = new Promise(() => {});
    const env = await setup('tcp', (s) => {
      backendError = once(s, 'error').then(([e]) => e as Error);
      s.resume();
    });
    const client = (await env.dial()) as StreamFD & Socket;
    client.write('x');
    await new Promise((r) => setTimeout(r, 50));
    client.resetAndDestroy();
    expect((await backendError) as NodeJS.ErrnoException).toMatchObject({ code: 'ECONNRESET' });
    await env.close();
  });

  it('a plain-text client on a tls front is dropped; the listener keeps serving', async () => {
    const env = await setup('tls', (s) => s.end('fine'));
    const raw = netConnect(env.port, '127.0.0.1');
    raw.on('error', () => {});
    raw.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    raw.resume();
    await closedWithin(raw, 2000);
    const client = await env.dial();
    expect((await readAll(client)).toString()).toBe('fine');
    client.destroy();
    expect(env.proxy.stats().errors).toBeGreaterThanOrEqual(1);
    await env.close();
  });
});

describe('many connections', () => {
  it('1,000 concurrent connections each echo 64 KiB exactly', async () => {
    const env = await setup('tcp', (s) => {
      s.on('error', () => {});
      s.pipe(s);
    });
    const payload = (i: number) => Buffer.alloc(64 * 1024, i % 251);
    const one = async (i: number) => {
      const client = await env.dial();
      const data = readAll(client);
      client.end(payload(i));
      const got = await data;
      return got.equals(payload(i));
    };
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => one(i)));
    expect(results.every(Boolean)).toBe(true);
    expect(env.proxy.stats().accepted).toBe(1000);
    await env.close();
  }, 60_000);
});
