import { once } from 'node:events';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isVproxyError } from '../../../src/fd/errors.js';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import type { WsServerFD } from '../../../transports/ws/index.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { hashUntilEnd, readAll, startServer, stopServer, writeRandom } from '../../helpers/net.js';
import { startRelay } from './relay.js';
import { startEntry, startExit } from './tunnel.js';

// Half-close, resets, keepalive and idle timeouts, end to end on loopback.

const registry = createDefaultRegistry();
let baseline: string[];

beforeAll(() => {
  baseline = snapshotSockets();
});

afterAll(async () => {
  await expectNoLeakedSockets(baseline);
});

type Backend = Awaited<ReturnType<typeof startServer>>;

/** client → entry (tcp) → ws (mode) → exit → backend; returns the connected client. */
async function throughTunnel(
  mode: string,
  backend: Backend,
  run: (client: StreamFD) => Promise<void>,
) {
  const exit = await startExit(registry, 'ws://127.0.0.1:0/', `tcp://127.0.0.1:${backend.port}`);
  const entry = await startEntry(registry, `ws://127.0.0.1:${exit.port}/?ws-mode=${mode}`);
  const client = await registry.connect(`tcp://127.0.0.1:${entry.port}`);
  try {
    await run(client);
  } finally {
    client.destroy();
    await entry.close();
    await exit.close();
    await stopServer(backend.server, backend.sockets);
  }
}

function errorCode(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

describe.each(['framed', 'raw'])('tcp -> ws (%s) -> tcp: half-close and reset', (mode) => {
  it("the client's FIN reaches the backend while the reply still flows back", async () => {
    const backend = await startServer((socket) => {
      let n = 0;
      socket.on('data', (c: Buffer) => {
        n += c.length;
      });
      socket.on('end', () => socket.end(`got ${n}`));
      socket.on('error', () => {});
    });
    await throughTunnel(mode, backend, async (client) => {
      client.end(Buffer.alloc(300_000, 7));
      expect((await readAll(client)).toString()).toBe('got 300000');
    });
  });

  it("the backend's FIN reaches the client while the client can still send", async () => {
    let resolveGot: (text: string) => void = () => {};
    const got = new Promise<string>((r) => {
      resolveGot = r;
    });
    const backend = await startServer((socket) => {
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('end', () => {
        resolveGot(Buffer.concat(chunks).toString());
        socket.destroy();
      });
      socket.on('error', () => {});
      socket.end('hello');
    });
    await throughTunnel(mode, backend, async (client) => {
      expect((await readAll(client)).toString()).toBe('hello');
      client.end('bye');
      expect(await got).toBe('bye');
    });
  });

  it("the client's reset reaches the backend as a reset", async () => {
    let backendSocket: Socket | null = null;
    const backend = await startServer((socket) => {
      backendSocket = socket;
      socket.on('error', () => {});
      socket.resume();
    });
    await throughTunnel(mode, backend, async (client) => {
      client.write('x');
      while (backendSocket === null) await sleep(10);
      const seen = once(backendSocket as Socket, 'error');
      (client as unknown as Socket).resetAndDestroy();
      const [err] = await Promise.race([
        seen,
        sleep(3000).then(() => [new Error('no reset within 3 s')]),
      ]);
      expect(errorCode(err)).toBe('ECONNRESET');
    });
  });

  it("the backend's reset reaches the client as ECONNRESET", async () => {
    const backend = await startServer((socket) => {
      socket.on('error', () => {});
      socket.write('x', () => setTimeout(() => socket.resetAndDestroy(), 50));
    });
    await throughTunnel(mode, backend, async (client) => {
      const outcome = await new Promise<string>((resolve) => {
        client.on('error', (err) => resolve(errorCode(err) ?? err.message));
        client.on('end', () => resolve('clean end'));
        client.resume();
        setTimeout(() => resolve('nothing within 3 s'), 3000).unref();
      });
      expect(outcome).toBe('ECONNRESET');
    });
  });
});

describe('keepalive (framed mode)', () => {
  const opts = 'ping-interval=100&pong-timeout=400';

  it('detects a silently dead peer on both ends within pong-timeout + ping-interval', async () => {
    const server = (await registry.listen(`ws://127.0.0.1:0/?${opts}`)) as WsServerFD;
    const accepted = new Promise<StreamFD>((r) => server.once('connection', r));
    const relay = await startRelay(server.address().port);
    const client = await registry.connect(`ws://127.0.0.1:${relay.port}/?${opts}`);
    const serverSide = await accepted;
    try {
      serverSide.on('data', (c: Buffer) => serverSide.write(c));
      // Idle for three timeouts: the pings keep both ends content.
      await sleep(1200);
      client.write('ping?');
      const [echoed] = await once(client, 'data');
      expect(echoed.toString()).toBe('ping?');

      relay.freeze();
      const frozenAt = Date.now();
      const failures = [client, serverSide].map(async (fd) => {
        const [err] = await once(fd, 'error');
        return { err, ms: Date.now() - frozenAt };
      });
      for (const { err, ms } of await Promise.all(failures)) {
        expect(isVproxyError(err, 'ERR_WS_PEER_DEAD')).toBe(true);
        // Declared dead after pong-timeout (400) of silence, checked every
        // ping-interval (100): the last pong came at most one interval before the
        // freeze, so from 400 - 100 ms (seen: 408-501 ms). No tight upper bound: a
        // loaded CI machine stalls a process for hundreds of ms; seconds still tell
        // the keepalive's verdict from none (the stream would stay open forever).
        expect(ms).toBeGreaterThanOrEqual(400 - 100);
        expect(ms).toBeLessThan(400 + 100 + 3000);
      }
      expect(server.stats().deadPeers).toBe(1);
    } finally {
      client.destroy();
      serverSide.destroy();
      await relay.close();
      await server.close();
    }
  });

  it('a slow reader stalls the writer (bounded buffers) and is not taken for dead', async () => {
    const total = 64 * 1024 * 1024;
    const server = (await registry.listen(`ws://127.0.0.1:0/?${opts}`)) as WsServerFD;
    let serverSide: StreamFD | null = null;
    const sent = new Promise<string>((resolve) => {
      server.once('connection', (fd) => {
        serverSide = fd;
        fd.on('error', () => {});
        writeRandom(fd, total).then(resolve);
      });
    });
    const client = await registry.connect(`ws://127.0.0.1:${server.address().port}/?${opts}`);
    try {
      // Not reading for 4 pong-timeouts: the server's writes stall (the kernel
      // buffers fill, then the ws send callbacks stop), yet both ends still
      // hear the other's pings.
      await sleep(1600);
      expect(client.destroyed).toBe(false);
      const writer = serverSide as unknown as StreamFD;
      expect(writer.bytesWritten).toBeLessThan(total / 2);
      expect(writer.writableLength).toBeLessThanOrEqual(256 * 1024);
      expect(client.readableLength).toBeLessThanOrEqual(256 * 1024);
      const received = await hashUntilEnd(client);
      expect(received.bytes).toBe(total);
      expect(received.sha256).toBe(await sent);
      expect(server.stats().deadPeers).toBe(0);
    } finally {
      client.destroy();
      await server.close();
    }
  });

  it('pings are not activity: the idle timer fires on a silent stream, data rearms it', async () => {
    const server = (await registry.listen('ws://127.0.0.1:0/?ping-interval=40')) as WsServerFD;
    const accepted = new Promise<StreamFD>((r) => server.once('connection', r));
    const client = await registry.connect(
      `ws://127.0.0.1:${server.address().port}/?ping-interval=40`,
    );
    const serverSide = await accepted;
    try {
      let timeouts = 0;
      // 1 s, ten times the data's gaps: a process stalled by a loaded machine for 250 ms
      // fired a 300 ms timer between two writes (shown with a busy-wait in the test).
      const idleMs = 1000;
      serverSide.setTimeout(idleMs, () => {
        timeouts++;
      });
      serverSide.resume();
      // Data every 100 ms, for longer than the idle timeout, keeps it from firing…
      for (let i = 0; i < 15; i++) {
        client.write('x');
        await sleep(100);
      }
      expect(timeouts).toBe(0);
      // …pings every 40 ms do not.
      await once(serverSide, 'timeout');
      expect(timeouts).toBe(1);
    } finally {
      client.destroy();
      serverSide.destroy();
      await server.close();
    }
  });
});
