import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAddress } from '../../src/fd/address.js';
import type { ServerFD } from '../../src/fd/server-fd.js';
import type { StreamFD } from '../../src/fd/stream-fd.js';
import type { Admission, ClientHandshake } from '../../src/proxy/admission.js';
import type { BackendPicker, SessionOutcome } from '../../src/proxy/backend-picker.js';
import { ProxyEngine, type ProxyOptions } from '../../src/proxy/proxy.js';
import { createDefaultRegistry } from '../../transports/default-registry.js';
import { MAX_READ_BUFFER } from '../../transports/tcp/direct-reader.js';
import { expectNoLeakedSockets, snapshotSockets } from '../helpers/handles.js';
import {
  closedPort,
  peerClosedWithin,
  readAll,
  startEchoServer,
  startServer,
  stopServer,
} from '../helpers/net.js';

// The engine's extension points, as TcpLB and Socks5Server use them: client
// handshakes, admission callbacks, backend preambles, release outcomes, buffer bounds.

const registry = createDefaultRegistry();
let baseline: string[];
let echo: Awaited<ReturnType<typeof startEchoServer>>;

beforeAll(async () => {
  baseline = snapshotSockets();
  echo = await startEchoServer();
});

afterAll(async () => {
  await stopServer(echo.server, echo.sockets);
  await expectNoLeakedSockets(baseline);
});

/** Reads one "\n"-terminated line, then pushes back whatever followed it. */
async function readLine(fd: StreamFD, signal: AbortSignal): Promise<string> {
  let buffered = Buffer.alloc(0);
  for (;;) {
    signal.throwIfAborted();
    const chunk = fd.read() as Buffer | null;
    if (chunk === null) {
      if (fd.readableEnded || fd.destroyed) throw new Error('closed');
      await Promise.race([once(fd, 'readable'), once(fd, 'close')]);
      continue;
    }
    buffered = Buffer.concat([buffered, chunk]);
    const nl = buffered.indexOf(10);
    if (nl >= 0) {
      if (nl + 1 < buffered.length) fd.unshift(buffered.subarray(nl + 1));
      return buffered.toString('utf8', 0, nl);
    }
  }
}

/** "CONNECT host:port" picks that target; anything else is refused with "DENIED". */
const lineHandshake =
  (events: string[]): ClientHandshake =>
  async (client, signal) => {
    const line = await readLine(client, signal);
    const m = /^CONNECT (\S+)$/.exec(line);
    if (!m?.[1]) {
      client.write('DENIED\n');
      return null;
    }
    const admission: Admission = {
      requested: parseAddress(m[1]),
      connected: () => {
        events.push('connected');
        client.write('OK\n');
      },
      failed: (reason) => {
        events.push(`failed:${reason}`);
        client.write(`FAILED ${reason}\n`);
      },
    };
    return admission;
  };

function requestedPicker(outcomes: SessionOutcome[]): BackendPicker {
  return {
    pick: ({ admission }) =>
      admission.requested
        ? { address: admission.requested, release: (o) => outcomes.push(o) }
        : null,
  };
}

async function start(options: Omit<ProxyOptions, 'server' | 'registry'>) {
  const server: ServerFD = await registry.listen('tcp://127.0.0.1:0');
  const proxy = new ProxyEngine({ server, registry, ...options });
  const dial = () => registry.connect(`tcp://127.0.0.1:${server.address().port}`);
  return { proxy, dial };
}

describe('client handshake and admission', () => {
  it('routes on what the handshake learnt and keeps pipelined bytes', async () => {
    const events: string[] = [];
    const outcomes: SessionOutcome[] = [];
    const { proxy, dial } = await start({
      handshake: lineHandshake(events),
      picker: requestedPicker(outcomes),
    });
    const client = await dial();
    client.end(`CONNECT 127.0.0.1:${echo.port}\nhello after the header`);
    expect((await readAll(client)).toString()).toBe('OK\nhello after the header');
    await proxy.close();
    expect(events).toEqual(['connected']);
    expect(outcomes).toEqual([{ connected: true, bytesToBackend: 22, bytesFromBackend: 22 }]);
  });

  it('a refused handshake gets its answer, then the client is closed', async () => {
    const { proxy, dial } = await start({
      handshake: lineHandshake([]),
      picker: requestedPicker([]),
    });
    const client = await dial();
    client.write('GET / HTTP/1.1\n');
    expect((await readAll(client)).toString()).toBe('DENIED\n');
    client.destroy();
    expect(proxy.stats()).toMatchObject({ refused: 1, active: 0 });
    await proxy.close();
  });

  it('a client that never finishes the handshake is dropped after the timeout', async () => {
    const { proxy, dial } = await start({
      handshake: lineHandshake([]),
      handshakeTimeoutMs: 200,
      picker: requestedPicker([]),
    });
    const client = await dial();
    client.on('error', () => {});
    client.write('CONNECT 127.0.0.1:1'); // no newline, ever
    const started = performance.now();
    await peerClosedWithin(client, 2000);
    expect(performance.now() - started).toBeGreaterThanOrEqual(150);
    client.destroy();
    while (proxy.stats().refused === 0) await new Promise((r) => setTimeout(r, 5));
    expect(proxy.stats()).toMatchObject({ refused: 1, active: 0 });
    await proxy.close();
  });

  it('a refused backend is reported to the admission and to release', async () => {
    const events: string[] = [];
    const outcomes: SessionOutcome[] = [];
    const { proxy, dial } = await start({
      handshake: lineHandshake(events),
      picker: requestedPicker(outcomes),
    });
    const client = await dial();
    client.write(`CONNECT 127.0.0.1:${await closedPort()}\n`);
    expect((await readAll(client)).toString()).toBe('FAILED connect-failed\n');
    client.destroy();
    await proxy.close();
    expect(events).toEqual(['failed:connect-failed']);
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]?.connected).toBe(false);
    expect(outcomes[0]?.connectError?.message).toMatch(/ECONNREFUSED/);
  });

  it('no backend is reported as no-backend', async () => {
    const events: string[] = [];
    const { proxy, dial } = await start({
      handshake: lineHandshake(events),
      picker: { pick: () => null },
    });
    const client = await dial();
    client.write('CONNECT 127.0.0.1:1\n');
    expect((await readAll(client)).toString()).toBe('FAILED no-backend\n');
    client.destroy();
    expect(events).toEqual(['failed:no-backend']);
    expect(proxy.stats().noBackend).toBe(1);
    await proxy.close();
  });

  it('a session killed during the connect is not a backend failure', async () => {
    const silent = await startServer((s) => s.on('error', () => {}));
    const outcomes: SessionOutcome[] = [];
    const { proxy, dial } = await start({
      // A tls backend that never answers keeps the connect pending.
      picker: {
        pick: () => ({
          address: parseAddress(`tls://127.0.0.1:${silent.port}?insecure`),
          release: (o) => outcomes.push(o),
        }),
      },
    });
    const client = await dial();
    client.on('error', () => {});
    while (proxy.sessions().length === 0) await new Promise((r) => setTimeout(r, 5));
    const [info] = proxy.sessions();
    expect(info?.state).toBe('connecting');
    proxy.kill(info?.id ?? -1);
    await peerClosedWithin(client, 2000);
    client.destroy();
    await proxy.close();
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]).toMatchObject({ connected: false, bytesToBackend: 0, bytesFromBackend: 0 });
    expect(outcomes[0]?.connectError).toBeUndefined();
    expect(outcomes[0]?.error).toMatchObject({ code: 'ERR_SESSION_KILLED' });
    await stopServer(silent.server, silent.sockets);
  });
});

describe('backend preamble and buffer bounds', () => {
  it('writes the preamble before any client byte', async () => {
    let seen: Promise<Buffer> = Promise.resolve(Buffer.alloc(0));
    const backend = await startServer((s) => {
      seen = readAll(s);
      s.end();
    });
    const { proxy, dial } = await start({
      picker: { pick: () => ({ address: parseAddress(`127.0.0.1:${backend.port}`) }) },
      backendPreamble: ({ client }) => Buffer.from(`FROM ${client.remotePort}\n`),
    });
    const client = await dial();
    const port = client.localPort;
    client.end('payload');
    await readAll(client);
    expect((await seen).toString()).toBe(`FROM ${port}\npayload`);
    await proxy.close();
    await stopServer(backend.server, backend.sockets);
  });

  // The bound is checked after each read, so it can be passed by one read (the
  // TCP reader's largest buffer); below the high-water mark it is that mark.
  it.each([
    [0, 0, 16 * 1024 + MAX_READ_BUFFER],
    [4 * 1024 * 1024, 4 * 1024 * 1024, 4 * 1024 * 1024 + MAX_READ_BUFFER],
  ])(
    'out-buffer-size %i queues at least %i and at most %i bytes towards a paused client',
    async (size, min, max) => {
      const flood = await startServer((s) => {
        s.on('error', () => {});
        const chunk = Buffer.alloc(64 * 1024, 7);
        const write = () => {
          while (s.write(chunk)) {}
        };
        s.on('drain', write);
        write();
      });
      const { proxy, dial } = await start({
        picker: { pick: () => ({ address: parseAddress(`127.0.0.1:${flood.port}`) }) },
        outBufferSize: size,
      });
      const client = await dial();
      client.pause();
      await new Promise((r) => setTimeout(r, 500));
      const [info] = proxy.sessions();
      expect(info?.queuedToClient).toBeGreaterThanOrEqual(min);
      expect(info?.queuedToClient).toBeLessThanOrEqual(max);
      client.destroy();
      await proxy.close();
      await stopServer(flood.server, flood.sockets);
    },
  );
});

describe('session snapshots', () => {
  it('a closed session still names its client and backend', async () => {
    const { proxy, dial } = await start({
      picker: { pick: () => ({ address: parseAddress(`127.0.0.1:${echo.port}`) }) },
    });
    const closed = once(proxy, 'sessionClosed');
    const client = await dial();
    const port = client.localPort;
    client.end('x');
    await readAll(client);
    const [info] = (await closed) as [{ client: string; backendLocal: string | null }];
    expect(info.client).toBe(`127.0.0.1:${port}`);
    expect(info.backendLocal).toMatch(/^127\.0\.0\.1:\d+$/);
    await proxy.close();
  });
});
