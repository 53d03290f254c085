import { once } from 'node:events';
import type { Server, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import type { SessionInfo } from '../../../src/proxy/session.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { WsFramedStream } from '../../../transports/ws/index.js';
import { makeTestCerts, type TestCerts } from '../../helpers/certs.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { hashUntilEnd, startEchoServer, stopServer, writeRandom } from '../../helpers/net.js';
import { type ExitHop, startEntry, startExit } from './tunnel.js';

// 100 MB each way, tcp → ws → tcp through two proxy engines and a real echo
// backend, for ws and wss, framed and raw. One ws listener per scheme serves
// both modes: the client picks by subprotocol.

const MB = 1024 * 1024;
const registry = createDefaultRegistry();
let baseline: string[];
let certs: TestCerts;
let echo: { server: Server; port: number; sockets: Set<Socket> };
const exits = new Map<string, ExitHop>();

beforeAll(async () => {
  baseline = snapshotSockets();
  certs = makeTestCerts();
  echo = await startEchoServer();
  const backend = `tcp://127.0.0.1:${echo.port}`;
  exits.set('ws', await startExit(registry, 'ws://127.0.0.1:0/tunnel', backend));
  exits.set(
    'wss',
    await startExit(
      registry,
      `wss://127.0.0.1:0/tunnel?cert=${certs.cert}&cert-key=${certs.key}`,
      backend,
    ),
  );
});

afterAll(async () => {
  for (const exit of exits.values()) await exit.close();
  await stopServer(echo.server, echo.sockets);
  certs.dispose();
  await expectNoLeakedSockets(baseline);
});

const cases = [
  { scheme: 'ws', mode: 'framed' },
  { scheme: 'ws', mode: 'raw' },
  { scheme: 'wss', mode: 'framed' },
  { scheme: 'wss', mode: 'raw' },
] as const;

describe.each(cases)('100 MB tcp -> $scheme ($mode) -> tcp', ({ scheme, mode }) => {
  it('arrives byte-exact both ways and every byte is counted', async () => {
    const exit = exits.get(scheme) as ExitHop;
    const tls = scheme === 'wss' ? `&ca=${certs.caCert}` : '';
    // An IP, not localhost: on a shared machine localhost may reach another
    // process's [::1] listener on the same port number. The test CA signs 127.0.0.1 too.
    const host = '127.0.0.1';
    const entry = await startEntry(
      registry,
      `${scheme}://${host}:${exit.port}/tunnel?ws-mode=${mode}${tls}`,
    );
    // Which mode each accepted stream came in with, by client port (other
    // clients of this listener, if any, do not disturb the count).
    const modes = new Map<number, string>();
    const onAccept = (fd: StreamFD) =>
      modes.set(fd.remotePort ?? 0, fd instanceof WsFramedStream ? 'framed' : 'raw');
    exit.wsServer.on('connection', onAccept);
    // Both sessions end on their own (the ws close handshake takes a round trip
    // after the client's close): closing a proxy earlier would reset them.
    const entryClosed = once(entry.proxy, 'sessionClosed');
    const exitSessions: [SessionInfo, Error | undefined][] = [];
    const onExitClosed = (i: SessionInfo, e: Error | undefined) => exitSessions.push([i, e]);
    exit.proxy.on('sessionClosed', onExitClosed);
    const client = await registry.connect(`tcp://127.0.0.1:${entry.port}`);
    // Before anything can end it: 'close' may follow 'end' within the same tick.
    const closed = once(client, 'close');
    const transfer = Promise.all([writeRandom(client, 100 * MB), hashUntilEnd(client)]);
    // The entry's ws connection, by its local address (gone once it is closed).
    let tunnelClient: string | null = null;
    while (tunnelClient === null && !client.closed) {
      tunnelClient = entry.proxy.sessions()[0]?.backendLocal ?? null;
      await sleep(5);
    }
    const [sent, received] = await transfer;
    expect(received.bytes).toBe(100 * MB);
    expect(received.sha256).toBe(sent);
    await closed;
    await entryClosed;
    await entry.close();

    const entryStats = entry.proxy.stats();
    expect(entryStats.connectFailures).toBe(0);
    expect(entryStats.bytesIn).toBe(100 * MB);
    expect(entryStats.bytesOut).toBe(100 * MB);
    const ours = () => exitSessions.find(([i]) => i.client === tunnelClient);
    for (let waited = 0; ours() === undefined && waited < 5000; waited += 20) await sleep(20);
    exit.proxy.off('sessionClosed', onExitClosed);
    exit.wsServer.off('connection', onAccept);
    const [info, err] = ours() ?? [];
    expect(info).toBeDefined();
    expect(err).toBeUndefined();
    if (info === undefined) return;
    // The ws side counts payload only: not the upgrade, frame headers or the 10-byte header.
    expect(info.bytesFromClient).toBe(100 * MB);
    expect(info.bytesToClient).toBe(100 * MB);
    const localPort = Number(tunnelClient?.split(':')[1]);
    expect(modes.get(localPort)).toBe(mode);
  }, 60_000);
});

describe('ws stream counters and identity', () => {
  it.each(cases)(
    '$scheme $mode: kind, addresses and payload-only byte counts',
    async ({ scheme, mode }) => {
      const exit = exits.get(scheme) as ExitHop;
      const tls = scheme === 'wss' ? `&ca=${certs.caCert}` : '';
      const host = '127.0.0.1';
      const client = await registry.connect(
        `${scheme}://${host}:${exit.port}/tunnel?ws-mode=${mode}${tls}`,
      );
      // Before anything can end it: 'close' may follow 'end' within the same tick.
      const closed = once(client, 'close');
      expect(client.kind).toBe(scheme === 'wss' ? 'ws+tls+tcp' : 'ws+tcp');
      expect(client.remoteAddress).toBe('127.0.0.1');
      expect(client.remotePort).toBe(exit.port);
      expect(client.localAddress).toBe('127.0.0.1');
      expect(typeof client.localPort).toBe('number');
      expect(client.bytesRead).toBe(0);
      expect(client.bytesWritten).toBe(0);
      const [sent, received] = await Promise.all([
        writeRandom(client, 300_000),
        hashUntilEnd(client),
      ]);
      expect(received.sha256).toBe(sent);
      expect(client.bytesRead).toBe(300_000);
      expect(client.bytesWritten).toBe(300_000);
      await closed;
    },
  );
});

describe('ws over other streams', () => {
  it.each([
    { name: 'ws over ws (an inner stream with no socket handle)', scheme: 'ws+ws', tls: false },
    { name: 'tls over ws', scheme: 'tls+ws', tls: true },
    { name: 'ws over IPv6 loopback', scheme: 'ws', tls: false, v6: true },
  ])('$name carries 10 MB both ways', async ({ scheme, tls, v6 }) => {
    const host = v6 ? '[::1]' : '127.0.0.1';
    const keys = tls ? `?cert=${certs.cert}&cert-key=${certs.key}` : '';
    const server = await registry.listen(`${scheme}://${host}:0/${keys}`);
    server.on('connection', (fd) => {
      fd.on('error', () => {});
      fd.pipe(fd);
    });
    try {
      const ca = tls ? `?ca=${certs.caCert}` : '';
      const client = await registry.connect(`${scheme}://${host}:${server.address().port}/${ca}`);
      // Before anything can end it: 'close' may follow 'end' within the same tick.
      const closed = once(client, 'close');
      expect(client.kind).toBe(`${scheme}+tcp`);
      const [sent, received] = await Promise.all([
        writeRandom(client, 10 * MB),
        hashUntilEnd(client),
      ]);
      expect(received.sha256).toBe(sent);
      await closed;
    } finally {
      await server.close();
    }
  });
});
