import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAddress } from '../../../src/fd/address.js';
import { isVproxyError } from '../../../src/fd/errors.js';
import { brandStreamFD, type StreamFD } from '../../../src/fd/stream-fd.js';
import { MuxSession, type MuxStream } from '../../../transports/mux/index.js';
import { dialTcp } from '../../../transports/tcp/dialer.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { hashUntilEnd, readAll, writeRandom } from '../../helpers/net.js';

// MuxSession used directly on a TCP socket (as the KCP transport will use it):
// both sides open streams, streams opened before the handshake, idle timeouts.

const MB = 1024 * 1024;
let baseline: string[];
let tcp: Server;
let port: number;
let serverSessions: MuxSession[] = [];
const everySession: MuxSession[] = [];

beforeAll(async () => {
  baseline = snapshotSockets();
  tcp = createServer({ allowHalfOpen: true }, (socket: Socket) => {
    const session = MuxSession.server(brandStreamFD(socket, 'tcp'), { pingMs: 0 });
    serverSessions.push(session);
    everySession.push(session);
  });
  tcp.listen(0, '127.0.0.1');
  await once(tcp, 'listening');
  port = (tcp.address() as { port: number }).port;
});

afterAll(async () => {
  for (const s of everySession) s.destroy();
  await new Promise<void>((resolve) => tcp.close(() => resolve()));
  await expectNoLeakedSockets(baseline, 5000);
});

async function pair(): Promise<{ client: MuxSession; server: MuxSession }> {
  serverSessions = [];
  const socket = await dialTcp(parseAddress(`tcp://127.0.0.1:${port}`));
  const client = MuxSession.client(socket, { pingMs: 0 });
  await client.whenReady();
  const server = serverSessions[0] as MuxSession;
  await server.whenReady();
  return { client, server };
}

describe('MuxSession over a TCP socket', () => {
  it('a stream opened before the handshake waits for it, then carries data', async () => {
    serverSessions = [];
    const socket = await dialTcp(parseAddress(`tcp://127.0.0.1:${port}`));
    const client = MuxSession.client(socket, { pingMs: 0 });
    const early = client.openStream(); // no SETTINGS from the server yet
    expect(early.connecting).toBe(true);
    early.end('before the handshake');
    const server = serverSessions[0] as MuxSession;
    const [accepted] = (await once(server, 'stream')) as [MuxStream];
    expect(accepted.id).toBe(1);
    expect((await readAll(accepted)).toString()).toBe('before the handshake');
    accepted.end();
    await readAll(early);
    expect(early.connecting).toBe(false);
    await Promise.all([client.close(), server.close()]);
  });

  it('the server opens streams too (even ids), and both directions flow', async () => {
    const { client, server } = await pair();
    const fromServer = server.openStream();
    expect(fromServer.id % 2).toBe(0);
    const [atClient] = (await once(client, 'stream')) as [MuxStream];
    expect(atClient.id).toBe(fromServer.id);
    const [sent, got] = await Promise.all([
      writeRandom(fromServer, 4 * MB),
      hashUntilEnd(atClient),
    ]);
    expect(got.sha256).toBe(sent);
    atClient.end();
    await readAll(fromServer);
    expect(atClient.kind).toBe('mux+tcp');
    expect(atClient.remotePort).toBe(port);
    await Promise.all([client.close(), server.close()]);
  });

  it('setTimeout behaves like net.Socket: fires once per idle period, re-arms on traffic, 0 disables', async () => {
    const { client, server } = await pair();
    const a = client.openStream();
    const [b] = (await once(server, 'stream')) as [MuxStream];
    b.on('error', () => {}); // a.destroy() below resets it
    let fired = 0;
    let callbacks = 0;
    a.on('timeout', () => fired++);
    a.setTimeout(60, () => callbacks++); // a one-time listener, as on net.Socket
    await new Promise((r) => setTimeout(r, 300));
    expect(fired).toBe(1);
    b.write('x'); // traffic re-arms the timer
    await new Promise((r) => setTimeout(r, 300));
    expect(fired).toBe(2);
    expect(callbacks).toBe(1);
    a.setTimeout(0);
    b.write('y');
    await new Promise((r) => setTimeout(r, 300));
    expect(fired).toBe(2);
    a.destroy();
    await Promise.all([client.close(), server.close()]);
  });

  it('destroying the session fails its streams with that error and tells the peer', async () => {
    const { client, server } = await pair();
    const a = client.openStream();
    a.on('error', () => {});
    const [b] = (await once(server, 'stream')) as [MuxStream];
    b.on('error', () => {});
    const closed = once(server, 'close');
    client.destroy(new Error('operator said so'));
    expect(a.errored?.message).toBe('operator said so');
    const [err] = (await closed) as [Error];
    expect(isVproxyError(err, 'ERR_MUX_GOAWAY')).toBe(true);
    expect(err.message).toMatch(/INTERNAL_ERROR: operator said so/);
    await new Promise((r) => (b.closed ? r(null) : b.once('close', r)));
    expect(b.errored).toBe(err);
  });

  it('gzip=on compresses compressible data and the peer inflates it', async () => {
    serverSessions = [];
    const socket: StreamFD = await dialTcp(parseAddress(`tcp://127.0.0.1:${port}`));
    const client = MuxSession.client(socket, { pingMs: 0, gzip: true });
    const server = await new Promise<MuxSession>((r) =>
      setImmediate(() => r(serverSessions[0] as MuxSession)),
    );
    const a = client.openStream();
    const [b] = (await once(server, 'stream')) as [MuxStream];
    const text = Buffer.alloc(2 * MB, 'compressible text ');
    a.end(text);
    const got = await readAll(b);
    expect(got.equals(text)).toBe(true);
    expect(socket.bytesWritten).toBeLessThan(MB / 4);
    b.end();
    await readAll(a);
    await Promise.all([client.close(), server.close()]);
  });
});
