import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Server, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { hashUntilEnd, startEchoServer, stopServer, writeRandom } from '../../helpers/net.js';
import { NGINX, type Nginx, startNginxWsProxy } from '../../helpers/nginx.js';
import { skipNote } from '../../helpers/require-tool.js';
import { type ExitHop, startEntry, startExit } from './tunnel.js';
import { exchange } from './wire.js';

// Through a real gateway: client → entry proxy → nginx (a stock WebSocket
// reverse proxy) → our ws listener → exit proxy → echo. CI installs nginx
// (and fails without it); elsewhere the suite is skipped, saying so.

const MB = 1024 * 1024;
const missing = NGINX.missing;
const note = skipNote(NGINX);

/** Read exactly `bytes` from `stream`; resolves with their sha256. */
function hashExactly(stream: Duplex, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  let seen = 0;
  return new Promise((resolve, reject) => {
    const onData = (c: Buffer) => {
      hash.update(c);
      seen += c.length;
      if (seen >= bytes) {
        stream.off('data', onData);
        if (seen > bytes) reject(new Error(`got ${seen} bytes, expected ${bytes}`));
        else resolve(hash.digest('hex'));
      }
    };
    stream.on('data', onData);
    stream.once('error', reject);
    stream.once('end', () => reject(new Error(`ended after ${seen} of ${bytes} bytes`)));
  });
}

describe.skipIf(missing)(`through nginx as a WebSocket reverse proxy${note}`, () => {
  const registry = createDefaultRegistry();
  let baseline: string[];
  let echo: { server: Server; port: number; sockets: Set<Socket> };
  let exit: ExitHop;
  let nginx: Nginx;

  beforeAll(async () => {
    baseline = snapshotSockets();
    echo = await startEchoServer();
    exit = await startExit(registry, 'ws://127.0.0.1:0/tunnel', `tcp://127.0.0.1:${echo.port}`);
    nginx = await startNginxWsProxy(exit.port);
  });

  afterAll(async () => {
    await nginx?.stop();
    await exit?.close();
    if (echo) await stopServer(echo.server, echo.sockets);
    await expectNoLeakedSockets(baseline);
  });

  it('framed mode carries 100 MB each way, half-close included', async () => {
    const entry = await startEntry(registry, `ws://127.0.0.1:${nginx.port}/tunnel`);
    try {
      const client = await registry.connect(`tcp://127.0.0.1:${entry.port}`);
      // Before anything can end it: 'close' may follow 'end' within the same tick.
      const closed = once(client, 'close');
      // The EOF travels in-band, so nginx keeps the echo direction open after it.
      const [sent, received] = await Promise.all([
        writeRandom(client, 100 * MB),
        hashUntilEnd(client),
      ]);
      expect(received.bytes).toBe(100 * MB);
      expect(received.sha256).toBe(sent);
      await closed;
    } finally {
      await entry.close();
    }
    expect(exit.wsServer.stats().framedAccepted).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('raw mode carries 100 MB each way', async () => {
    const entry = await startEntry(registry, `ws://127.0.0.1:${nginx.port}/tunnel?ws-mode=raw`);
    try {
      const client = await registry.connect(`tcp://127.0.0.1:${entry.port}`);
      // Before anything can end it: 'close' may follow 'end' within the same tick.
      const closed = once(client, 'close');
      // nginx ends an upgraded connection at the first FIN from either side (it
      // relays no half-close), so the client ends only once the echo is all back.
      const [sent, received] = await Promise.all([
        writeRandom(client, 100 * MB, false),
        hashExactly(client, 100 * MB),
      ]);
      expect(received).toBe(sent);
      client.end();
      client.resume();
      await closed;
    } finally {
      await entry.close();
    }
    expect(exit.wsServer.stats().rawAccepted).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('a plain HTTP request through nginx gets our HTTP answer, not a hang', async () => {
    const { reply, closed } = await exchange(
      nginx.port,
      'GET /tunnel HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n',
    );
    expect(reply.toString()).toMatch(/^HTTP\/1\.1 426 /);
    expect(closed).toBe(true);
  });
});
