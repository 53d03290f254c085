import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { makeTestCerts, type TestCerts } from '../../helpers/certs.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { hashUntilEnd, writeRandom } from '../../helpers/net.js';

// mux composes with the other layers in both orders: many streams inside one
// TLS connection (mux+tls+tcp), and TLS inside each mux stream (tls+mux+tcp).

const MB = 1024 * 1024;
const registry = createDefaultRegistry();
let baseline: string[];
let certs: TestCerts;

beforeAll(() => {
  baseline = snapshotSockets();
  certs = makeTestCerts();
});

afterAll(async () => {
  certs.dispose();
  await expectNoLeakedSockets(baseline, 5000);
});

async function echoRoundTrips(listen: string, dial: (port: number) => string, streams: number) {
  const server = await registry.listen(listen);
  server.on('connection', (fd) => {
    fd.on('error', () => {});
    fd.pipe(fd);
  });
  const fds: StreamFD[] = await Promise.all(
    Array.from({ length: streams }, () => registry.connect(dial(server.address().port))),
  );
  const results = await Promise.all(
    fds.map((fd) => Promise.all([writeRandom(fd, 2 * MB), hashUntilEnd(fd)])),
  );
  for (const [sent, back] of results) expect(back.sha256).toBe(sent);
  await server.close();
  return fds;
}

describe('mux with tls', () => {
  it('mux+tls+tcp: eight streams share one TLS connection', async () => {
    const fds = await echoRoundTrips(
      `mux+tls://127.0.0.1:0?cert=${certs.cert}&cert-key=${certs.key}`,
      (port) => `mux+tls://localhost:${port}?ca=${certs.caCert}`,
      8,
    );
    expect(new Set(fds.map((f) => f.localPort)).size).toBe(1);
    expect(fds[0]?.kind).toBe('mux+tls+tcp');
  });

  it('tls+mux+tcp: each mux stream carries its own TLS session', async () => {
    const fds = await echoRoundTrips(
      `tls+mux+tcp://127.0.0.1:0?cert=${certs.cert}&cert-key=${certs.key}`,
      (port) => `tls+mux+tcp://localhost:${port}?ca=${certs.caCert}`,
      4,
    );
    expect(new Set(fds.map((f) => f.localPort)).size).toBe(1);
    expect(fds[0]?.kind).toBe('tls+mux+tcp');
  });
});
