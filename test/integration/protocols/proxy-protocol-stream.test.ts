import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isVproxyError, VproxyError } from '../../../src/fd/errors.js';
import type { ServerFD } from '../../../src/fd/server-fd.js';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import {
  encodeProxyV1,
  encodeProxyV2,
  type ProxyHeader,
  proxyHeaderFor,
  readProxyHeader,
} from '../../../src/protocols/proxy-protocol/index.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { makeTestCerts, type TestCerts } from '../../helpers/certs.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { hashUntilEnd, writeRandom } from '../../helpers/net.js';

// readProxyHeader on live streams: the header may arrive in any pieces, the
// data after it must come through untouched, and bad headers close the stream.

const registry = createDefaultRegistry();
let baseline: string[];
let certs: TestCerts;

type Outcome = { header: ProxyHeader; rest: { bytes: number; sha256: string } } | { error: Error };

/** A listener that reads a PROXY header from each client, then hashes the rest. */
async function headerServer(address: string, timeoutMs = 2_000) {
  const server = await registry.listen(address);
  const outcomes: Promise<Outcome>[] = [];
  const streams = new Set<StreamFD>();
  server.on('connection', (fd) => {
    streams.add(fd);
    fd.once('close', () => streams.delete(fd));
    outcomes.push(
      readProxyHeader(fd, { timeoutMs }).then(
        async (header) => {
          const rest = await hashUntilEnd(fd);
          fd.end();
          return { header, rest };
        },
        (error: Error) => ({ error }),
      ),
    );
  });
  return {
    server,
    outcomes,
    async close() {
      await server.close();
      for (const s of streams) s.destroy();
    },
  };
}

beforeAll(() => {
  baseline = snapshotSockets();
  certs = makeTestCerts();
});

afterAll(async () => {
  certs.dispose();
  await expectNoLeakedSockets(baseline);
});

describe('readProxyHeader on a live stream', () => {
  let srv: Awaited<ReturnType<typeof headerServer>>;
  beforeAll(async () => {
    srv = await headerServer('tcp://127.0.0.1:0', 400);
  });
  afterAll(async () => {
    await srv.close();
  });

  const port = () => (srv.server as ServerFD).address().port;
  const v1 = encodeProxyV1({
    source: { host: '192.0.2.1', port: 1111 },
    destination: { host: '192.0.2.2', port: 443 },
  });
  const v2 = encodeProxyV2({
    source: { host: '2001:db8::1', port: 2222 },
    destination: { host: '2001:db8::2', port: 8443 },
    tlvs: [{ type: 0x02, value: Buffer.from('a.example') }],
    checksum: true,
  });

  it.each([
    ['v1, one byte per write', v1, true],
    ['v2, one byte per write', v2, true],
    ['v1, header and data together', v1, false],
    ['v2, header and data together', v2, false],
  ])('%s: header decoded, 4 MB after it byte-exact', async (_, header, bytewise) => {
    const n = srv.outcomes.length;
    const sock = connect({ host: '127.0.0.1', port: port(), noDelay: true });
    await once(sock, 'connect');
    if (bytewise) {
      for (const b of header) {
        sock.write(Buffer.from([b]));
        await new Promise((r) => setTimeout(r, 1));
      }
    } else {
      sock.write(header);
    }
    const sent = await writeRandom(sock, 4 * 1024 * 1024);
    sock.resume();
    await once(sock, 'close');
    const outcome = await (srv.outcomes[n] as Promise<Outcome>);
    if ('error' in outcome) throw outcome.error;
    expect(outcome.rest).toEqual({ bytes: 4 * 1024 * 1024, sha256: sent });
    expect(outcome.header.length).toBe(header.length);
    expect(outcome.header.source?.port).toBe(header === v1 ? 1111 : 2222);
  });

  it.each([
    [
      'garbage',
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      false,
      'ERR_PROXY_HEADER_INVALID',
    ],
    [
      'a truncated v2 block and FIN',
      encodeProxyV2({}).subarray(0, 10),
      true,
      'ERR_PROXY_HEADER_TRUNCATED',
    ],
    [
      'a v1 line with no CRLF',
      Buffer.from(`PROXY UNKNOWN ${'x'.repeat(150)}`),
      false,
      'ERR_PROXY_HEADER_TOO_LONG',
    ],
    ['half a header, then silence', v1.subarray(0, 20), false, 'ERR_HANDSHAKE_TIMEOUT'],
    ['nothing at all', Buffer.alloc(0), false, 'ERR_HANDSHAKE_TIMEOUT'],
  ])('%s: typed error and the stream is closed', async (_, bytes, end, code) => {
    const n = srv.outcomes.length;
    const sock: Socket = connect({ host: '127.0.0.1', port: port() });
    await once(sock, 'connect');
    sock.on('error', () => {});
    const gone = new Promise<void>((resolve) => {
      sock.once('end', () => resolve());
      sock.once('close', () => resolve());
    });
    sock.resume();
    if (bytes.length) sock.write(bytes);
    if (end) sock.end();
    await gone;
    sock.destroy();
    const outcome = await (srv.outcomes[n] as Promise<Outcome>);
    expect('error' in outcome && isVproxyError(outcome.error, code as VproxyError['code'])).toBe(
      true,
    );
  });

  it('fuzz: any bytes end in a header or a typed error and a close, never a stuck stream', async () => {
    const base = srv.outcomes.length;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 3000 }).map((a) => Buffer.from(a)),
          fc
            .tuple(fc.constantFrom(v1, v2), fc.nat(), fc.integer({ min: 0, max: 255 }))
            .map(([h, at, val]) => {
              const b = Buffer.from(h);
              b[at % b.length] = val;
              return b;
            }),
        ),
        fc.boolean(),
        async (bytes, end) => {
          const sock = connect({ host: '127.0.0.1', port: port() });
          await once(sock, 'connect');
          sock.on('error', () => {});
          const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
          sock.resume();
          if (bytes.length) sock.write(bytes);
          // A header that decodes leaves the server waiting for data: end in that case too.
          if (end) sock.end();
          else setTimeout(() => sock.end(), 600);
          await closed;
        },
      ),
      { numRuns: 40 },
    );
    const outcomes = await Promise.all(srv.outcomes.slice(base));
    expect(outcomes).toHaveLength(40);
    for (const o of outcomes) {
      if ('error' in o) expect(o.error).toBeInstanceOf(VproxyError);
    }
  }, 60_000);
});

describe('over a TLS transport too (any StreamFD)', () => {
  it('a v2 header inside TLS, then data', async () => {
    const srv = await headerServer(`tls://127.0.0.1:0?cert=${certs.cert}&cert-key=${certs.key}`);
    const fd = await registry.connect(
      `tls://localhost:${srv.server.address().port}?ca=${certs.caCert}`,
    );
    // What a proxy would send for this very connection.
    const init = proxyHeaderFor(fd);
    expect(init.source?.host).toBe('127.0.0.1');
    fd.write(encodeProxyV2(init));
    const sent = await writeRandom(fd, 1024 * 1024);
    fd.resume();
    await once(fd, 'close');
    const outcome = await (srv.outcomes[0] as Promise<Outcome>);
    if ('error' in outcome) throw outcome.error;
    expect(outcome.header).toMatchObject({
      family: 'tcp4',
      source: init.source,
      destination: init.destination,
    });
    expect(outcome.rest.sha256).toBe(sent);
    await srv.close();
  });
});
