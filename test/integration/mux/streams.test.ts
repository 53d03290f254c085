import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isVproxyError } from '../../../src/fd/errors.js';
import type { ServerFD } from '../../../src/fd/server-fd.js';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import type { MuxServerFD } from '../../../transports/mux/server.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { hashUntilEnd, readAll, writeRandom } from '../../helpers/net.js';

// Many streams over one mux session on real TCP loopback: concurrency,
// isolation of resets, half-close in both directions, sha256-checked.

const MB = 1024 * 1024;
const registry = createDefaultRegistry();
let baseline: string[];
let echo: MuxServerFD;
let echoAddr: string;

beforeAll(async () => {
  baseline = snapshotSockets();
  echo = (await registry.listen('mux+tcp://127.0.0.1:0')) as MuxServerFD;
  echo.on('connection', (fd) => {
    fd.on('error', () => {});
    fd.pipe(fd);
  });
  echoAddr = `mux+tcp://127.0.0.1:${echo.address().port}`;
});

afterAll(async () => {
  await echo.close();
  await expectNoLeakedSockets(baseline, 5000);
});

/** Send `bytes` through a fresh echo stream; resolve with what was sent and what came back. */
async function roundTrip(fd: StreamFD, bytes: number) {
  const [sent, back] = await Promise.all([writeRandom(fd, bytes), hashUntilEnd(fd)]);
  return { sent, back };
}

describe('mux+tcp streams', () => {
  it('100 concurrent streams over one session each echo 1 MB byte-exact', async () => {
    const streams = await Promise.all(
      Array.from({ length: 100 }, () => registry.connect(echoAddr)),
    );
    // Every stream rides the same inner connection (same local port) ...
    expect(new Set(streams.map((s) => s.localPort)).size).toBe(1);
    expect(new Set(streams.map((s) => (s as StreamFD & { id: number }).id)).size).toBe(100);
    expect(echo.sessionCount).toBe(1);
    const results = await Promise.all(streams.map((s) => roundTrip(s, MB)));
    for (const { sent, back } of results) {
      expect(back.bytes).toBe(MB);
      expect(back.sha256).toBe(sent);
    }
    for (const s of streams) {
      expect(s.bytesWritten).toBe(MB);
      expect(s.bytesRead).toBe(MB);
      expect(s.kind).toBe('mux+tcp');
    }
    await Promise.all(streams.map((s) => (s.closed ? undefined : once(s, 'close'))));
  }, 60_000);

  it('a stream reset mid-transfer does not disturb its siblings', async () => {
    const serverSide = new Map<number, StreamFD>();
    const onConn = (fd: StreamFD) => serverSide.set((fd as StreamFD & { id: number }).id, fd);
    echo.on('connection', onConn);
    const streams = await Promise.all(Array.from({ length: 8 }, () => registry.connect(echoAddr)));
    const victim = streams[3] as StreamFD & { id: number; resetAndDestroy(): void };
    const siblings = streams.filter((s) => s !== victim);
    const transfers = siblings.map((s) => roundTrip(s, 4 * MB));
    // The victim starts a transfer of its own and is reset partway.
    victim.on('error', () => {});
    void writeRandom(victim, 64 * MB).catch(() => {});
    victim.on('data', () => {});
    await new Promise((r) => setTimeout(r, 50));
    victim.resetAndDestroy();
    const peer = serverSide.get(victim.id) as StreamFD;
    if (!peer.closed) await new Promise((resolve) => peer.once('close', resolve));
    expect(isVproxyError(peer.errored, 'ERR_MUX_RESET')).toBe(true);
    for (const { sent, back } of await Promise.all(transfers)) {
      expect(back.bytes).toBe(4 * MB);
      expect(back.sha256).toBe(sent);
    }
    echo.off('connection', onConn);
  }, 60_000);

  it('half-close from the client: the server sees end and still writes back', async () => {
    const server = await registry.listen('mux+tcp://127.0.0.1:0');
    server.on('connection', async (fd) => {
      fd.on('error', () => {});
      const got = await readAll(fd); // the client's FIN ends this
      fd.end(Buffer.concat([Buffer.from('got '), got]));
    });
    const client = await registry.connect(`mux+tcp://127.0.0.1:${server.address().port}`);
    client.end('hello');
    expect((await readAll(client)).toString()).toBe('got hello');
    await closeAll(server, client);
  });

  it('half-close from the server: the client sees end and keeps sending', async () => {
    const server = await registry.listen('mux+tcp://127.0.0.1:0');
    const received = new Promise<string>((resolve) => {
      server.on('connection', async (fd) => {
        fd.on('error', () => {});
        fd.end('server done');
        resolve((await readAll(fd)).toString());
      });
    });
    const client = await registry.connect(`mux+tcp://127.0.0.1:${server.address().port}`);
    expect((await readAll(client)).toString()).toBe('server done');
    expect(client.writable).toBe(true);
    client.write('still ');
    client.end('talking');
    expect(await received).toBe('still talking');
    await closeAll(server, client);
  });

  it('a reference-style (legacy) client works against our listener', async () => {
    const client = await registry.connect(`${echoAddr}?legacy=1`);
    const { sent, back } = await roundTrip(client, 8 * MB);
    expect(back.sha256).toBe(sent);
  }, 30_000);

  it('bad options fail before any connection, naming the option', async () => {
    await expect(registry.connect(`${echoAddr}?window=12`)).rejects.toMatchObject({
      code: 'ERR_OPTION_INVALID',
      message: expect.stringMatching(/window=12.*1024\.\./),
    });
    await expect(registry.connect(`${echoAddr}?ping=soon`)).rejects.toMatchObject({
      code: 'ERR_OPTION_INVALID',
    });
    await expect(registry.connect(`${echoAddr}?windows=1`)).rejects.toMatchObject({
      code: 'ERR_OPTION_UNKNOWN',
    });
    await expect(
      registry.listen('mux+tcp://127.0.0.1:0?max-buffered=2048&window=4096'),
    ).rejects.toMatchObject({
      code: 'ERR_OPTION_INVALID',
      message: expect.stringMatching(/max-buffered=2048/),
    });
  });
});

async function closeAll(server: ServerFD, client: StreamFD): Promise<void> {
  if (!client.closed) await once(client, 'close');
  await server.close();
}
