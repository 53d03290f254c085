import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAddress } from '../../../src/fd/address.js';
import type { ServerFD } from '../../../src/fd/server-fd.js';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { makeTestCerts, type TestCerts } from '../../helpers/certs.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';

// Which name a tls:// client checks the server's certificate against. For a host
// name, that name (and it is sent as SNI). For an IP address — never sent as SNI —
// the address itself: Node's tls.connect over an existing stream falls back to
// "localhost" when it is given no host, which let any certificate for localhost
// pass for every IP target and failed a certificate that names only the IP.

const registry = createDefaultRegistry();
const baseline = snapshotSockets();
const sets: { certs: TestCerts; server: ServerFD; port: number }[] = [];

/**
 * A tls:// echo server on 127.0.0.1 whose certificate names only `san` (its common
 * name is no host name: Node matches a host name against it when no DNS name is listed).
 */
async function serverFor(san: string): Promise<{ certs: TestCerts; port: number }> {
  const certs = makeTestCerts(san, 'vproxy test server');
  const server = await registry.listen(
    parseAddress(`tls://127.0.0.1:0?cert=${certs.cert}&cert-key=${certs.key}`),
  );
  server.on('connection', (fd: StreamFD) => {
    fd.on('error', () => {});
    fd.pipe(fd);
  });
  server.on('handshakeError', () => {});
  const port = server.address().port;
  sets.push({ certs, server, port });
  return { certs, port };
}

/** The codes along an error's cause chain. */
function codes(err: unknown): string[] {
  const out: string[] = [];
  for (let e = err; e instanceof Error; e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') out.push(code);
  }
  return out;
}

/** Connect, send a line, read it back; rejects as the connect does. */
async function roundTrip(address: string): Promise<string> {
  const fd = await registry.connect(parseAddress(address), { timeoutMs: 10_000 });
  try {
    fd.write('ping\n');
    const [chunk] = (await once(fd, 'data')) as [Buffer];
    return chunk.toString();
  } finally {
    fd.destroy();
  }
}

let ipOnly: { certs: TestCerts; port: number };
let localhostOnly: { certs: TestCerts; port: number };

beforeAll(async () => {
  ipOnly = await serverFor('IP:127.0.0.1');
  localhostOnly = await serverFor('DNS:localhost');
});

afterAll(async () => {
  for (const s of sets) {
    await s.server.close();
    s.certs.dispose();
  }
  await expectNoLeakedSockets(baseline);
});

describe('tls client: the name a certificate must carry', () => {
  it('an IP target accepts a certificate that names that IP', async () => {
    const { certs, port } = ipOnly;
    expect(await roundTrip(`tls://127.0.0.1:${port}?ca=${certs.caCert}`)).toBe('ping\n');
  });

  it('an IP target refuses a certificate that names only localhost', async () => {
    const { certs, port } = localhostOnly;
    const err = await roundTrip(`tls://127.0.0.1:${port}?ca=${certs.caCert}`).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(codes(err)).toContain('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('a host name target checks that name; sni= names another to check', async () => {
    const { certs, port } = localhostOnly;
    expect(await roundTrip(`tls://localhost:${port}?ca=${certs.caCert}`)).toBe('ping\n');
    expect(await roundTrip(`tls://127.0.0.1:${port}?ca=${certs.caCert}&sni=localhost`)).toBe(
      'ping\n',
    );
    const ip = ipOnly;
    const err = await roundTrip(`tls://localhost:${ip.port}?ca=${ip.certs.caCert}`).catch((e) => e);
    expect(codes(err)).toContain('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('insecure skips the check, as it says', async () => {
    const { port } = localhostOnly;
    expect(await roundTrip(`tls://127.0.0.1:${port}?insecure=1`)).toBe('ping\n');
  });
});
