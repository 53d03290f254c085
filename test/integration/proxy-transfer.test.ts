import { once } from 'node:events';
import type { Server, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerFD } from '../../src/fd/server-fd.js';
import { ProxyEngine } from '../../src/proxy/proxy.js';
import { RoundRobinPicker } from '../../src/proxy/round-robin.js';
import { createDefaultRegistry } from '../../transports/default-registry.js';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { expectNoLeakedSockets, snapshotSockets } from '../helpers/handles.js';
import { hashUntilEnd, startEchoServer, stopServer, writeRandom } from '../helpers/net.js';

// 100 MB each way through the proxy for every front/back transport pair,
// checked byte-exactly against a real echo backend.

const MB = 1024 * 1024;
const registry = createDefaultRegistry();
let certs: TestCerts;
let baseline: string[];
let plainEcho: { server: Server; port: number; sockets: Set<Socket> };
let tlsEcho: ServerFD;
let tlsEchoPort: number;

beforeAll(async () => {
  baseline = snapshotSockets();
  certs = makeTestCerts();
  plainEcho = await startEchoServer();
  // A TLS echo backend built from our own tls listener over tcp.
  tlsEcho = await registry.listen(`tls://127.0.0.1:0?cert=${certs.cert}&cert-key=${certs.key}`);
  tlsEcho.on('connection', (fd) => {
    fd.on('error', () => {});
    fd.pipe(fd);
  });
  tlsEchoPort = tlsEcho.address().port;
});

afterAll(async () => {
  await stopServer(plainEcho.server, plainEcho.sockets);
  await tlsEcho.close();
  certs.dispose();
  await expectNoLeakedSockets(baseline);
});

interface Case {
  readonly name: string;
  readonly front: () => string;
  readonly back: () => string;
}

const cases: Case[] = [
  {
    name: 'tcp -> tcp',
    front: () => 'tcp://127.0.0.1:0',
    back: () => `127.0.0.1:${plainEcho.port}`,
  },
  {
    name: 'tls -> tcp',
    front: () => `tls://127.0.0.1:0?cert=${certs.cert}&cert-key=${certs.key}`,
    back: () => `tcp://127.0.0.1:${plainEcho.port}`,
  },
  {
    name: 'tcp -> tls',
    front: () => 'tcp://127.0.0.1:0',
    back: () => `tls://localhost:${tlsEchoPort}?ca=${certs.caCert}`,
  },
];

describe.each(cases)('100 MB through the proxy, $name', ({ front, back }) => {
  it('arrives byte-exact in both directions and counts every byte', async () => {
    const frontAddr = front();
    const server = await registry.listen(frontAddr);
    const proxy = new ProxyEngine({ server, registry, picker: new RoundRobinPicker([back()]) });
    const scheme = frontAddr.split('://')[0];
    const clientAddr =
      scheme === 'tls'
        ? `tls://localhost:${server.address().port}?ca=${certs.caCert}`
        : `tcp://127.0.0.1:${server.address().port}`;
    const client = await registry.connect(clientAddr);
    const [sent, received] = await Promise.all([
      writeRandom(client, 100 * MB),
      hashUntilEnd(client),
    ]);
    expect(received.bytes).toBe(100 * MB);
    expect(received.sha256).toBe(sent);
    await once(client, 'close');
    await proxy.close();
    const stats = proxy.stats();
    expect(stats.accepted).toBe(1);
    expect(stats.active).toBe(0);
    expect(stats.connectFailures).toBe(0);
    expect(stats.bytesIn).toBe(100 * MB);
    expect(stats.bytesOut).toBe(100 * MB);
  }, 60_000);
});
