import { once } from 'node:events';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAddress } from '../../../src/fd/address.js';
import type { ServerFD } from '../../../src/fd/server-fd.js';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import type { MuxTransport } from '../../../transports/mux/index.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';

// Registry.close(): a client's pooled mux sessions (kcp://, mux+tcp://) outlive the
// streams they carried, to be reused, until their idle timer (a minute). An app that
// stops closes its registry so they go at once: a websocks-agent with a kcp server
// used to live on for ~58 s after SIGTERM, held by the idle session's UDP socket.

const servers = createDefaultRegistry();
const listening: ServerFD[] = [];

afterAll(async () => {
  for (const s of listening) await s.close();
});

async function echoServer(scheme: string): Promise<number> {
  const server = await servers.listen(`${scheme}://127.0.0.1:0`);
  server.on('connection', (fd: StreamFD) => {
    fd.on('error', () => {});
    fd.pipe(fd);
  });
  listening.push(server);
  return server.address().port;
}

async function echoOnce(fd: StreamFD): Promise<string> {
  fd.write('hello');
  const [chunk] = (await once(fd, 'data')) as [Buffer];
  fd.end();
  await once(fd, 'close');
  return chunk.toString();
}

describe('Registry.close closes pooled client sessions', () => {
  for (const scheme of ['kcp', 'mux+tcp']) {
    it(`${scheme}: the idle session and its socket go at once; the registry stays usable`, async () => {
      const port = await echoServer(scheme);
      const baseline = snapshotSockets();
      const clients = createDefaultRegistry();
      const address = parseAddress(`${scheme}://127.0.0.1:${port}`);
      const transport = clients.resolve(scheme) as MuxTransport;

      expect(await echoOnce(await clients.connect(address, { timeoutMs: 10_000 }))).toBe('hello');
      // The stream is closed; its session stays pooled, holding its socket.
      expect(transport.pool(address)?.size).toBe(1);
      expect(snapshotSockets().length).toBeGreaterThan(baseline.length);

      await clients.close();
      expect(transport.pool(address)).toBeUndefined();
      // Well inside the one-minute idle timer the socket would have waited for.
      await expectNoLeakedSockets(baseline, 10_000);

      // A later connect opens a fresh session.
      expect(await echoOnce(await clients.connect(address, { timeoutMs: 10_000 }))).toBe('hello');
      await clients.close();
      await expectNoLeakedSockets(baseline, 10_000);
    }, 60_000);
  }
});
