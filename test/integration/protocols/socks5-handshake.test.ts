import { once } from 'node:events';
import { connect, type Server, type Socket } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isVproxyError, VproxyError } from '../../../src/fd/errors.js';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import {
  encodeGreeting,
  encodeRequest,
  type Socks5Accepted,
  Socks5Error,
  socks5Connect,
  socks5Handshake,
  toEndpoint,
} from '../../../src/protocols/socks5/index.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { makeTestCerts } from '../../helpers/certs.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import {
  hashUntilEnd,
  startEchoServer,
  startServer,
  stopServer,
  writeRandom,
} from '../../helpers/net.js';
import { type Socks5Harness, startSocks5Harness } from './socks5-harness.js';

// Raw clients on loopback against our handshake: exact bytes on every path,
// pipelined and byte-by-byte input, timeouts, and fuzzed garbage.

const registry = createDefaultRegistry();
let baseline: string[];
let echo: { server: Server; port: number; sockets: Set<Socket> };
let banner: { server: Server; port: number; sockets: Set<Socket> };
let open: Socks5Harness;
let authed: Socks5Harness;
const TIMEOUT_MS = 300;

beforeAll(async () => {
  baseline = snapshotSockets();
  echo = await startEchoServer();
  // A server that speaks first, like SSH or SMTP.
  banner = await startServer((s) => {
    s.on('error', () => {});
    s.end('BANNER\r\n');
  });
  open = await startSocks5Harness(registry, 'tcp://127.0.0.1:0', {
    handshakeTimeoutMs: TIMEOUT_MS,
    deny: (r) => r.port === 9,
    lingerMs: 500,
  });
  authed = await startSocks5Harness(registry, 'tcp://127.0.0.1:0', {
    auth: { users: { bob: 'pw' } },
    handshakeTimeoutMs: TIMEOUT_MS,
    lingerMs: 500,
  });
});

afterAll(async () => {
  await open.close();
  await authed.close();
  await stopServer(echo.server, echo.sockets);
  await stopServer(banner.server, banner.sockets);
  await expectNoLeakedSockets(baseline);
});

/** Connect, send `chunks` (optionally one byte per write), collect everything until the server closes. */
async function exchange(
  port: number,
  chunks: Buffer[],
  opts: { end?: boolean; bytewise?: boolean; waitMs?: number } = {},
): Promise<{ received: Buffer; closedBy: 'end' | 'error' | 'timeout' }> {
  const socket = connect({ host: '127.0.0.1', port, noDelay: true });
  await once(socket, 'connect');
  const parts: Buffer[] = [];
  socket.on('data', (d: Buffer) => parts.push(d));
  const closed = new Promise<'end' | 'error' | 'timeout'>((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), opts.waitMs ?? 3_000);
    socket.once('end', () => {
      clearTimeout(timer);
      resolve('end');
    });
    socket.once('error', () => {
      clearTimeout(timer);
      resolve('error');
    });
  });
  for (const chunk of chunks) {
    if (opts.bytewise) {
      for (const byte of chunk) {
        socket.write(Buffer.from([byte]));
        await new Promise((r) => setTimeout(r, 2));
      }
    } else {
      socket.write(chunk);
    }
  }
  if (opts.end) socket.end();
  const closedBy = await closed;
  socket.destroy();
  return { received: Buffer.concat(parts), closedBy };
}

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const connectTo = (port: number) => encodeRequest('connect', toEndpoint('127.0.0.1', port));

describe('data phase: nothing past the request is consumed', () => {
  it('greeting + request + payload in one write: the payload reaches the target', async () => {
    const socket = connect({ host: '127.0.0.1', port: open.port });
    await once(socket, 'connect');
    socket.write(Buffer.concat([hex('050100'), connectTo(echo.port), Buffer.from('PIPELINED')]));
    const got: Buffer[] = [];
    socket.on('data', (d: Buffer) => got.push(d));
    while (Buffer.concat(got).length < 2 + 10 + 9) await once(socket, 'data');
    const all = Buffer.concat(got);
    expect(all.subarray(0, 2)).toEqual(hex('0500'));
    expect(all.subarray(2, 4)).toEqual(hex('0500')); // VER, REP=succeeded
    expect(all.subarray(12).toString()).toBe('PIPELINED');
    socket.destroy();
  });

  it.each([false, true])(
    'handshake bytes one per write = %s, then 8 MB byte-exact both ways',
    async (bytewise) => {
      const socket = connect({ host: '127.0.0.1', port: open.port, noDelay: true });
      await once(socket, 'connect');
      const head = Buffer.concat([hex('050100'), connectTo(echo.port)]);
      const headIn: Buffer[] = [];
      const onHead = (d: Buffer) => headIn.push(d);
      socket.on('data', onHead);
      if (bytewise) {
        for (const b of head) {
          socket.write(Buffer.from([b]));
          await new Promise((r) => setTimeout(r, 2));
        }
      } else {
        socket.write(head);
      }
      while (Buffer.concat(headIn).length < 12) await once(socket, 'data');
      socket.off('data', onHead);
      expect(Buffer.concat(headIn)).toHaveLength(12);
      const [sent, received] = await Promise.all([
        writeRandom(socket, 8 * 1024 * 1024),
        hashUntilEnd(socket),
      ]);
      expect(received.bytes).toBe(8 * 1024 * 1024);
      expect(received.sha256).toBe(sent);
      socket.destroy();
    },
  );
});

describe('every failure sends the right bytes and closes the connection', () => {
  const F = (rep: string) => `05${rep}0001000000000000`;
  const cases: [string, () => Socks5Harness, string, string, string][] = [
    [
      'socks4 greeting: silent close',
      () => open,
      '04 01 0050 7f000001 00',
      '',
      'ERR_SOCKS5_BAD_VERSION',
    ],
    ['NMETHODS = 0', () => open, '05 00', '05ff', 'ERR_SOCKS5_MALFORMED'],
    [
      'only user/pass offered to a no-auth server',
      () => open,
      '05 01 02',
      '05ff',
      'ERR_SOCKS5_NO_ACCEPTABLE_METHOD',
    ],
    [
      'unknown command 0x04',
      () => open,
      '050100 05 04 00 01 7f000001 0050',
      `0500${F('07')}`,
      'ERR_SOCKS5_COMMAND_NOT_SUPPORTED',
    ],
    [
      'BIND not enabled',
      () => open,
      '050100 05 02 00 01 7f000001 0050',
      `0500${F('07')}`,
      'ERR_SOCKS5_COMMAND_NOT_SUPPORTED',
    ],
    [
      'address type 0x02',
      () => open,
      '050100 05 01 00 02 7f000001 0050',
      `0500${F('08')}`,
      'ERR_SOCKS5_ADDRESS_TYPE_NOT_SUPPORTED',
    ],
    [
      'empty domain',
      () => open,
      '050100 05 01 00 03 00 0050',
      `0500${F('01')}`,
      'ERR_SOCKS5_MALFORMED',
    ],
    [
      'bad password',
      () => authed,
      '050102 01 03 626f62 02 7878',
      '05020101',
      'ERR_SOCKS5_AUTH_FAILED',
    ],
    [
      'unknown user',
      () => authed,
      '050102 01 03 616c69 02 7077',
      '05020101',
      'ERR_SOCKS5_AUTH_FAILED',
    ],
    [
      'auth sub-negotiation version 5',
      () => authed,
      '050102 05 03 626f62 02 7077',
      '05020101',
      'ERR_SOCKS5_MALFORMED',
    ],
    [
      'no-auth offered to an auth server',
      () => authed,
      '050100',
      '05ff',
      'ERR_SOCKS5_NO_ACCEPTABLE_METHOD',
    ],
  ];

  it.each(cases)('%s', async (_, harness, input, expected, code) => {
    const h = harness();
    const before = h.rejections.length;
    // Junk after the bad message: a pipelining client must still get our answer, not a reset.
    const { received, closedBy } = await exchange(h.port, [
      hex(input),
      Buffer.alloc(1024 * 1024, 0x41),
    ]);
    expect(received.toString('hex')).toBe(expected);
    expect(closedBy).toBe('end');
    await h.settled();
    expect(h.rejections.slice(before).map((e) => (e as VproxyError).code)).toEqual([code]);
  });

  it('a denied target: 0x02, then closed (not left open as the reference does)', async () => {
    const { received, closedBy } = await exchange(open.port, [hex('050100'), connectTo(9)]);
    expect(received.toString('hex')).toBe(`0500${F('02')}`);
    expect(closedBy).toBe('end');
  });

  it("a request cut short by the client's FIN: general failure, then closed", async () => {
    const before = open.rejections.length;
    const { received, closedBy } = await exchange(open.port, [hex('050100 05 01 00 01 7f00')], {
      end: true,
    });
    expect(received.toString('hex')).toBe(`0500${F('01')}`);
    expect(closedBy).toBe('end');
    await open.settled();
    expect(isVproxyError(open.rejections[before], 'ERR_SOCKS5_TRUNCATED')).toBe(true);
  });

  it.each([
    ['a silent client', ''],
    ['a client stuck mid-greeting', '05 02 00'],
    ['a client stuck mid-request', '050100 05 01 00 03 10 6162'],
  ])('the handshake timeout closes %s', async (_, input) => {
    const before = open.rejections.length;
    const started = Date.now();
    // Seconds of slack (a loaded CI machine stalls a process for hundreds of ms, more than
    // once): still tells the handshake timeout's close from none.
    const { closedBy } = await exchange(open.port, input ? [hex(input)] : [], {
      waitMs: TIMEOUT_MS + 5_000,
    });
    expect(closedBy).not.toBe('timeout');
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 5_000);
    await open.settled();
    expect(isVproxyError(open.rejections[before], 'ERR_HANDSHAKE_TIMEOUT')).toBe(true);
  });
});

describe('our client handshake against our server', () => {
  it.each([false, true])(
    'pipeline = %s, with auth; a speaking-first target keeps its bytes',
    async (pipeline) => {
      const fd = await registry.connect(`tcp://127.0.0.1:${authed.port}`);
      const reply = await socks5Connect(fd, {
        target: { host: '127.0.0.1', port: banner.port },
        auth: { username: 'bob', password: 'pw' },
        pipeline,
      });
      expect(reply.code).toBe(0);
      expect(reply.host).toBe('127.0.0.1');
      const rest = await hashUntilEnd(fd);
      expect(rest.bytes).toBe('BANNER\r\n'.length);
      fd.destroy();
    },
  );

  it('a failure reply rejects with the reply code and destroys the stream', async () => {
    const fd = await registry.connect(`tcp://127.0.0.1:${open.port}`);
    const err = await socks5Connect(fd, { target: { host: '127.0.0.1', port: 9 } }).catch((e) => e);
    expect(err).toBeInstanceOf(Socks5Error);
    expect((err as Socks5Error).code).toBe('ERR_SOCKS5_REQUEST_FAILED');
    expect((err as Socks5Error).replyCode).toBe(2);
    expect(err.message).toContain('connection not allowed by ruleset');
    expect(fd.destroyed).toBe(true);
  });

  it('a bad password rejects with ERR_SOCKS5_AUTH_FAILED', async () => {
    const fd = await registry.connect(`tcp://127.0.0.1:${authed.port}`);
    const err = await socks5Connect(fd, {
      target: { host: 'localhost', port: echo.port },
      auth: { username: 'bob', password: 'nope' },
      pipeline: true,
    }).catch((e) => e);
    expect(isVproxyError(err, 'ERR_SOCKS5_AUTH_FAILED')).toBe(true);
  });
});

describe('any transport: the same handshake over TLS', () => {
  it('socks5 inside tls+tcp, then 4 MB byte-exact through the splice', async () => {
    const certs = makeTestCerts();
    const tls = await startSocks5Harness(
      registry,
      `tls://127.0.0.1:0?cert=${certs.cert}&cert-key=${certs.key}`,
      { auth: { users: { bob: 'pw' } } },
    );
    const fd = await registry.connect(`tls://localhost:${tls.port}?ca=${certs.caCert}`);
    const reply = await socks5Connect(fd, {
      target: { host: 'localhost', port: echo.port },
      auth: { username: 'bob', password: 'pw' },
      pipeline: true,
    });
    expect(reply.code).toBe(0);
    const [sent, received] = await Promise.all([
      writeRandom(fd, 4 * 1024 * 1024),
      hashUntilEnd(fd),
    ]);
    expect(received.sha256).toBe(sent);
    expect(tls.requests).toEqual([
      { command: 'connect', host: 'localhost', port: echo.port, addressType: 'domain' },
    ]);
    fd.destroy();
    await tls.close();
    certs.dispose();
  });
});

describe('reply() rules', () => {
  it('BIND may be answered twice, CONNECT once; a failure closes', async () => {
    const server = await registry.listen('tcp://127.0.0.1:0');
    const accepted: Promise<Socks5Accepted>[] = [];
    server.on('connection', (fd: StreamFD) => {
      const p = socks5Handshake(fd, { commands: ['bind', 'connect'] });
      p.catch(() => {});
      accepted.push(p);
    });
    const port = server.address().port;
    const sock = connect({ host: '127.0.0.1', port });
    await once(sock, 'connect');
    const got: Buffer[] = [];
    sock.on('data', (d: Buffer) => got.push(d));
    sock.write(
      Buffer.concat([encodeGreeting([0]), encodeRequest('bind', toEndpoint('0.0.0.0', 0))]),
    );
    while (accepted.length === 0) await new Promise((r) => setTimeout(r, 5));
    const bind = await (accepted[0] as Promise<Socks5Accepted>);
    bind.reply(0, { host: '127.0.0.1', port: 4000 });
    bind.reply(0, { host: '10.1.2.3', port: 5000 });
    expect(() => bind.reply(0)).toThrow(VproxyError);
    expect(() => bind.reply(99 as 0)).toThrow(/not a REP code/);
    while (Buffer.concat(got).length < 22) await once(sock, 'data');
    expect(Buffer.concat(got).toString('hex')).toBe(
      '0500' + '050000017f0000010fa0' + '050000010a0102031388',
    );
    sock.destroy();
    bind.client.destroy();

    const sock2 = connect({ host: '127.0.0.1', port });
    await once(sock2, 'connect');
    sock2.write(Buffer.concat([encodeGreeting([0]), connectTo(1)]));
    while (accepted.length === 1) await new Promise((r) => setTimeout(r, 5));
    const conn = await (accepted[1] as Promise<Socks5Accepted>);
    const ended = once(sock2, 'end');
    sock2.resume();
    conn.reply(4);
    expect(() => conn.reply(0)).toThrow(/already answered/);
    await ended;
    sock2.destroy();
    await server.close();
  });
});

describe('fuzzing the live handshake (fast-check)', () => {
  it('garbage, truncated and oversized input: typed rejection and a closed connection, every time', async () => {
    const fuzz = await startSocks5Harness(registry, 'tcp://127.0.0.1:0', {
      handshakeTimeoutMs: 200,
      lingerMs: 200,
      auth: { users: new Map([['u', 'p']]) },
      deny: () => true, // a request that parses still ends in a close
    });
    const valid = Buffer.concat([hex('050102'), hex('01 01 75 01 70'), connectTo(echo.port)]);
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 700 }).map((a) => Buffer.from(a)),
      fc
        .tuple(fc.nat({ max: valid.length }), fc.uint8Array({ maxLength: 5000 }))
        .map(([n, tail]) => Buffer.concat([valid.subarray(0, n), tail])),
      fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(([at, v]) => {
        const b = Buffer.from(valid);
        b[at % b.length] = v;
        return b;
      }),
    );
    await fc.assert(
      fc.asyncProperty(input, fc.boolean(), async (bytes, end) => {
        const { closedBy } = await exchange(fuzz.port, bytes.length ? [bytes] : [], {
          end,
          waitMs: 2_500,
        });
        expect(closedBy).not.toBe('timeout');
      }),
      { numRuns: 60 },
    );
    await fuzz.settled();
    for (const err of fuzz.rejections) {
      expect(err).toBeInstanceOf(VproxyError);
      expect((err as VproxyError).code).toMatch(/^ERR_(SOCKS5_\w+|HANDSHAKE_TIMEOUT|CLOSED)$/);
    }
    await fuzz.close();
  }, 60_000);
});
