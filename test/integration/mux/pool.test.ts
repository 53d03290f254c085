import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import type { MuxServerFD } from '../../../transports/mux/server.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { closedPort, readAll, startServer, stopServer } from '../../helpers/net.js';

// How mux+tcp:// connect() shares sessions: lazily made, reused, spread,
// replaced; and how listeners drain.

const registry = createDefaultRegistry();
let baseline: string[];

beforeAll(() => {
  baseline = snapshotSockets();
});

afterAll(async () => {
  await expectNoLeakedSockets(baseline, 5000);
});

async function echoListener(query = ''): Promise<{ server: MuxServerFD; address: string }> {
  const server = (await registry.listen(`mux+tcp://127.0.0.1:0${query}`)) as MuxServerFD;
  server.on('connection', (fd) => {
    fd.on('error', () => {});
    fd.pipe(fd);
  });
  return { server, address: `mux+tcp://127.0.0.1:${server.address().port}` };
}

const ports = (streams: StreamFD[]) => new Set(streams.map((s) => s.localPort)).size;

async function finish(streams: StreamFD[]): Promise<void> {
  for (const s of streams) s.end();
  await Promise.all(streams.map((s) => readAll(s)));
}

describe('session pooling', () => {
  it('sessions=4 spreads streams over four sessions', async () => {
    const { server, address } = await echoListener();
    const streams = await Promise.all(
      Array.from({ length: 8 }, () => registry.connect(`${address}?sessions=4`)),
    );
    expect(ports(streams)).toBe(4);
    expect(server.sessionCount).toBe(4);
    await finish(streams);
    await server.close();
  });

  it('streams-per-session=3 opens another session once one carries three', async () => {
    const { server, address } = await echoListener();
    const streams: StreamFD[] = [];
    for (let i = 0; i < 7; i++)
      streams.push(await registry.connect(`${address}?streams-per-session=3`));
    expect(ports(streams)).toBe(3);
    await finish(streams);
    await server.close();
  });

  it("the peer's max-streams also makes the pool open another session", async () => {
    const { server, address } = await echoListener('?max-streams=2');
    const streams: StreamFD[] = [];
    for (let i = 0; i < 3; i++) streams.push(await registry.connect(address));
    expect(ports(streams)).toBe(2);
    await finish(streams);
    await server.close();
  });

  it('an idle session closes after session-idle; the next connect opens a new one', async () => {
    const { server, address } = await echoListener();
    const first = await registry.connect(`${address}?session-idle=100`);
    const firstPort = first.localPort;
    await finish([first]);
    for (let i = 0; i < 100 && server.sessionCount > 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(server.sessionCount).toBe(0);
    const second = await registry.connect(`${address}?session-idle=100`);
    expect(second.localPort).not.toBe(firstPort);
    await finish([second]);
    await server.close();
  });

  it('a closing listener drains: open streams finish, new ones go elsewhere', async () => {
    const { server, address } = await echoListener();
    const open = await registry.connect(address);
    await server.close();
    open.write('still here');
    open.end();
    expect((await readAll(open)).toString()).toBe('still here');
    // Nothing listens any more: a new connect fails instead of reusing the drained session.
    await expect(registry.connect(address)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('connect failures', () => {
  it('a refused inner connect rejects, and a later connect tries again', async () => {
    const port = await closedPort();
    await expect(registry.connect(`mux+tcp://127.0.0.1:${port}`)).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
    await expect(registry.connect(`mux+tcp://127.0.0.1:${port}`)).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
  });

  it('a peer that never answers the handshake: timeout, then abort', async () => {
    const silent = await startServer(() => {});
    const address = `mux+tcp://127.0.0.1:${silent.port}?handshake-timeout=5000`;
    // The caller's 200 ms timeout fired, not the 5 s handshake timeout: told by the
    // error itself, not by a bound on the wall clock.
    await expect(registry.connect(address, { timeoutMs: 200 })).rejects.toMatchObject({
      code: 'ERR_CONNECT_TIMEOUT',
      message: expect.stringMatching(/timed out after 200 ms/),
    });
    const abort = new AbortController();
    const attempt = registry.connect(address, { signal: abort.signal });
    setTimeout(() => abort.abort(), 50);
    await expect(attempt).rejects.toMatchObject({ code: 'ERR_CONNECT_ABORTED' });
    await stopServer(silent.server, silent.sockets);
  });

  it('a peer that is not a mux server fails with a typed error', async () => {
    const http = await startServer((socket) => {
      socket.on('error', () => {});
      socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
    });
    const err = await registry.connect(`mux+tcp://127.0.0.1:${http.port}`).catch((e) => e);
    expect(err.code).toMatch(/^ERR_MUX_/);
    await stopServer(http.server, http.sockets);
  });
});
