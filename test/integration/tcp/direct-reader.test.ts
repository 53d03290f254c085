import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseAddress } from '../../../src/fd/address.js';
import { type DirectReadable, directReadable } from '../../../src/fd/direct-read.js';
import type { ServerFD } from '../../../src/fd/server-fd.js';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import { dialTcp } from '../../../transports/tcp/dialer.js';
import {
  DirectReader,
  MAX_READ_BUFFER,
  MIN_READ_BUFFER,
} from '../../../transports/tcp/direct-reader.js';
import { listenTcp } from '../../../transports/tcp/listener.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { readAll, writeRandom } from '../../helpers/net.js';

// The TCP transport reads through a DirectReader (onread mode, one reused buffer).
// These tests pin down what its users rely on: without a sink the socket is an
// ordinary Duplex whose chunks are independent copies; with a sink, chunks are
// views that the sink must retain explicitly; buffers grow for bulk reads.

let listener: ServerFD;
let accepted: StreamFD[];
let baseline: string[];

beforeEach(async () => {
  baseline = snapshotSockets();
  listener = await listenTcp(parseAddress('tcp://127.0.0.1:0'));
  accepted = [];
  listener.on('connection', (fd) => accepted.push(fd));
});

afterEach(async () => {
  for (const fd of accepted) fd.destroy();
  await listener.close();
  await expectNoLeakedSockets(baseline);
});

async function pair(): Promise<{ client: Socket; server: StreamFD }> {
  const client = connect(listener.address().port, '127.0.0.1');
  await once(client, 'connect');
  while (accepted.length === 0) await new Promise((r) => setImmediate(r));
  const server = accepted[accepted.length - 1];
  if (server === undefined) throw new Error('no accepted socket');
  return { client, server };
}

function readerOf(fd: StreamFD): DirectReadable {
  const reader = directReadable(fd);
  if (reader === null) throw new Error('no direct reader');
  return reader;
}

describe('tcp direct reader', () => {
  it('both accepted and dialled sockets have one', async () => {
    const { client, server } = await pair();
    expect(directReadable(server)).not.toBeNull();
    const dialled = await dialTcp(parseAddress(`127.0.0.1:${listener.address().port}`));
    expect(directReadable(dialled)).not.toBeNull();
    dialled.destroy();
    client.destroy();
  });

  it('without a sink, chunks are independent copies (a later read does not overwrite them)', async () => {
    const { client, server } = await pair();
    const chunks: Buffer[] = [];
    server.on('data', (c: Buffer) => chunks.push(c));
    server.resume();
    client.write('first');
    while (chunks.length < 1) await new Promise((r) => setTimeout(r, 5));
    client.end('SECOND');
    await once(server, 'end');
    expect(chunks[0]?.toString()).toBe('first');
    expect(Buffer.concat(chunks).toString()).toBe('firstSECOND');
    client.destroy();
  });

  it('an accepted socket reads nothing before its owner resumes it', async () => {
    const { client, server } = await pair();
    client.write('early');
    await new Promise((r) => setTimeout(r, 50));
    expect(server.bytesRead).toBe(0);
    server.resume();
    const [chunk] = (await once(server, 'data')) as [Buffer];
    expect(chunk.toString()).toBe('early');
    client.destroy();
  });

  it('a sink that retains chunks gets 8 MB byte-exact, in reads that grow to the largest buffer', async () => {
    const { client, server } = await pair();
    const reader = readerOf(server);
    const kept: Buffer[] = [];
    let largest = 0;
    reader.setDirectSink((chunk) => {
      kept.push(chunk);
      reader.retainReadBuffer();
      largest = Math.max(largest, chunk.length);
      return true;
    });
    server.resume();
    const sent = writeRandom(client, 8 * 1024 * 1024);
    await once(server, 'end');
    const got = createHash('sha256').update(Buffer.concat(kept)).digest('hex');
    expect(got).toBe(await sent);
    expect(largest).toBeGreaterThan(64 * 1024);
    expect(largest).toBeLessThanOrEqual(MAX_READ_BUFFER);
    client.destroy();
  });

  it('the buffer shrinks to fit a read that did not fill it (an idle connection keeps only that)', async () => {
    const { client, server } = await pair();
    const reader = readerOf(server);
    const sizes: number[] = [];
    reader.setDirectSink((chunk) => {
      sizes.push(chunk.length);
      return true;
    });
    server.resume();
    const settle = async (total: number) => {
      while (sizes.reduce((a, b) => a + b, 0) < total) await new Promise((r) => setTimeout(r, 5));
    };
    client.write(Buffer.alloc(2 * 1024 * 1024, 1));
    await settle(2 * 1024 * 1024);
    expect(Math.max(...sizes)).toBeGreaterThan(64 * 1024);
    client.write(Buffer.alloc(100, 2));
    await settle(2 * 1024 * 1024 + 100);
    expect(sizes.at(-1)).toBe(100);
    const before = sizes.length;
    client.write(Buffer.alloc(200 * 1024, 3));
    await settle(2 * 1024 * 1024 + 100 + 200 * 1024);
    // The read after the 100-byte one had only the smallest buffer, then it grew again.
    expect(sizes[before]).toBe(MIN_READ_BUFFER);
    expect(Math.max(...sizes.slice(before))).toBeGreaterThan(MIN_READ_BUFFER);
    client.destroy();
  });

  it('a sink returning false pauses reading until resume()', async () => {
    const { client, server } = await pair();
    const reader = readerOf(server);
    let reads = 0;
    reader.setDirectSink(() => {
      reads++;
      return false;
    });
    server.resume();
    client.write('a');
    while (reads === 0) await new Promise((r) => setTimeout(r, 5));
    client.write('b');
    await new Promise((r) => setTimeout(r, 50));
    expect(reads).toBe(1);
    server.resume();
    while (reads < 2) await new Promise((r) => setTimeout(r, 5));
    expect(reads).toBe(2);
    client.destroy();
  });

  it("a closed socket's buffer is read into again by a new socket, unless a sink retained it", async () => {
    // One read through a sink on a fresh accepted socket, then both ends closed;
    // returns the chunk the sink saw.
    const oneRead = async (retain: boolean): Promise<Buffer> => {
      const { client, server } = await pair();
      const reader = readerOf(server);
      let chunk: Buffer | undefined;
      reader.setDirectSink((c) => {
        chunk = c;
        if (retain) reader.retainReadBuffer();
        return true;
      });
      server.resume();
      client.write('x');
      while (chunk === undefined) await new Promise((r) => setImmediate(r));
      const closed = once(server, 'close');
      client.destroy();
      server.destroy();
      await closed;
      return chunk;
    };
    const spared = await oneRead(false);
    // The next socket reads into the closed one's buffer (no new memory per connection)…
    const retained = await oneRead(true);
    expect(retained.buffer).toBe(spared.buffer);
    // …but memory a sink retained (a write still queued) is never handed out again.
    const after = await oneRead(false);
    expect(after.buffer).not.toBe(retained.buffer);
    expect(retained.toString()).toBe('x');
  });

  it('a small first read fits the smallest buffer, and echoing through the Readable side works', async () => {
    const { client, server } = await pair();
    const reader = readerOf(server);
    if (!(reader instanceof DirectReader)) throw new Error('not the tcp DirectReader');
    // The buffer Node will read into next (what onread.buffer hands it).
    const bufferSize = () => {
      const b = reader.onread.buffer;
      return (typeof b === 'function' ? b() : b).length;
    };
    expect(bufferSize()).toBe(MIN_READ_BUFFER);
    const sizes: number[] = [];
    server.on('data', (c: Buffer) => sizes.push(c.length));
    server.pipe(server);
    server.resume();
    const echoed = readAll(client);
    // Random bytes, so a reused or overwritten buffer shows up as wrong content.
    const small = randomBytes(100);
    client.write(small);
    while (sizes.length === 0) await new Promise((r) => setTimeout(r, 5));
    expect(sizes).toEqual([100]);
    expect(bufferSize()).toBe(MIN_READ_BUFFER); // a read that did not fill it keeps the smallest
    const bulk = randomBytes(MIN_READ_BUFFER * 3 + 5);
    client.end(bulk);
    expect((await echoed).equals(Buffer.concat([small, bulk]))).toBe(true);
    // Every read fitted the buffer the growth rule gives: x4 after a full read,
    // else the smallest size that held it.
    let size = MIN_READ_BUFFER;
    for (const n of sizes) {
      expect(n).toBeLessThanOrEqual(size);
      if (n === size) size = Math.min(size * 4, MAX_READ_BUFFER);
      else for (size = MIN_READ_BUFFER; size < n; ) size *= 4;
    }
  });

  it('closing the listener leaves accepted sockets working, and accepts no more', async () => {
    const { client, server } = await pair();
    await listener.close();
    const refused = connect(listener.address().port, '127.0.0.1');
    const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    expect(err.code).toBe('ECONNREFUSED');
    server.pipe(server);
    server.resume();
    const echoed = readAll(client);
    client.end('still here');
    expect((await echoed).toString()).toBe('still here');
  });
});
