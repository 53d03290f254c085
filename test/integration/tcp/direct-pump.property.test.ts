import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Server, type Socket } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxyEngine } from '../../../src/proxy/proxy.js';
import { RoundRobinPicker } from '../../../src/proxy/round-robin.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { startEchoServer, stopServer } from '../../helpers/net.js';

// The tcp->tcp pump writes from the source's reused read buffer and must switch
// to new memory whenever a write is left queued. A mistake there corrupts bytes
// only under some interleaving of chunk sizes, stalls and resumes, so this runs
// random ones through a real proxy and echo backend and compares sha256 of what
// went in with what came back.

const registry = createDefaultRegistry();
let baseline: string[];
let echo: { server: Server; port: number; sockets: Set<Socket> };
// Two proxies: default bounds (the source pauses as soon as anything waits), and
// 8 MiB bounds (it keeps reading while earlier reads still wait in the queue,
// which is when reusing a read buffer too early would show).
const proxies: ProxyEngine[] = [];
const ports: number[] = [];

beforeAll(async () => {
  baseline = snapshotSockets();
  echo = await startEchoServer();
  for (const bound of [0, 8 * 1024 * 1024]) {
    const server = await registry.listen('tcp://127.0.0.1:0');
    proxies.push(
      new ProxyEngine({
        server,
        registry,
        picker: new RoundRobinPicker([`127.0.0.1:${echo.port}`]),
        inBufferSize: bound,
        outBufferSize: bound,
      }),
    );
    ports.push(server.address().port);
  }
});

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await stopServer(echo.server, echo.sockets);
  await expectNoLeakedSockets(baseline);
});

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes `chunks` (sizes) of random bytes, waiting `gapMs` between some; resolves with the sha256. */
async function send(socket: Socket, chunks: readonly number[], gapMs: readonly number[]) {
  const hash = createHash('sha256');
  for (const [i, size] of chunks.entries()) {
    const data = randomBytes(size);
    hash.update(data);
    if (!socket.write(data)) await once(socket, 'drain');
    const gap = gapMs[i % gapMs.length] ?? 0;
    if (gap > 0) await pause(gap);
  }
  socket.end();
  return hash.digest('hex');
}

/** Reads to the end, stopping reading for `stallMs` after every `every`-th chunk. */
async function receive(socket: Socket, every: number, stallMs: number) {
  const hash = createHash('sha256');
  let n = 0;
  socket.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    if (++n % every === 0) {
      socket.pause();
      setTimeout(() => socket.resume(), stallMs);
    }
  });
  await once(socket, 'end');
  return hash.digest('hex');
}

describe('tcp->tcp direct pump', () => {
  it('echoes byte-exactly under random chunk sizes, write gaps and reader stalls', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(0, 1, 1),
        fc.array(fc.integer({ min: 1, max: 2_000_000 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.constantFrom(0, 0, 0, 1, 5), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 20 }),
        fc.constantFrom(0, 1, 10, 40),
        async (which, chunks, gaps, every, stallMs) => {
          const socket = connect(ports[which] ?? 0, '127.0.0.1');
          await once(socket, 'connect');
          const [sent, got] = await Promise.all([
            send(socket, chunks, gaps),
            receive(socket, every, stallMs),
          ]);
          socket.destroy();
          expect(got).toBe(sent);
        },
      ),
      { numRuns: 20 },
    );
  }, 60_000);
});
