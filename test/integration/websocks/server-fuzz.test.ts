import { connect, type Socket } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wsFramedAdopter } from '../../../apps/websocks/server/framed.js';
import { buildUpgradeRequest } from '../../../src/protocols/websocks/client-request.js';
import { WebsocksServer } from '../../../src/websocks/server/websocks-server.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { fcParams } from '../../helpers/fc.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { openTunnel } from './ws-client.js';

// The server's handshake path under garbage, truncation and oversize, over real sockets
// (and garbage after a 101: raw frame, framed mode, SOCKS5 stage):
// every client gets an HTTP answer from the site (or a 101 for a valid request) or a close,
// within the server's deadlines — never a crash, never a connection left hanging.

const DEADLINE_MS = 400;
let server: WebsocksServer;
let baseline: string[] = [];

beforeAll(async () => {
  baseline = snapshotSockets();
  server = await WebsocksServer.start({
    listen: 'ws://127.0.0.1:0',
    auth: 'alice:secret',
    registry: createDefaultRegistry(),
    handshakeTimeoutMs: DEADLINE_MS,
    poolIdleTimeoutMs: DEADLINE_MS,
    allowLoopback: true,
    framed: wsFramedAdopter,
  });
});

afterAll(async () => {
  await server.close();
  await expectNoLeakedSockets(baseline);
});

/**
 * Send `bytes` (and `after` once the server answered, e.g. garbage after a 101), optionally
 * ending our side; collect everything until the server closes.
 */
function exchange(
  bytes: Buffer,
  endOurSide: boolean,
  after: Buffer | null = null,
): Promise<{ reply: Buffer; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const parts: Buffer[] = [];
    const s: Socket = connect(server.door.address().port, '127.0.0.1', () => {
      s.write(bytes);
      if (endOurSide && after === null) s.end();
    });
    const guard = setTimeout(() => {
      s.destroy();
      reject(new Error(`connection still open after ${DEADLINE_MS * 6} ms`));
    }, DEADLINE_MS * 6);
    s.on('data', (d: Buffer) => {
      if (parts.length === 0 && after !== null && !s.writableEnded) s.write(after);
      parts.push(d);
    });
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(guard);
      resolve({ reply: Buffer.concat(parts), closedAfterMs: Date.now() - t0 });
    });
  });
}

const valid = () =>
  buildUpgradeRequest({
    host: 'h',
    port: 443,
    tls: false,
    user: 'alice',
    password: 'secret',
    nowMs: Date.now(),
  });

const requestBytes = fc.oneof(
  // Plain garbage.
  fc.uint8Array({ minLength: 1, maxLength: 300 }).map((a) => Buffer.from(a)),
  // A valid upgrade request, truncated.
  fc.nat().map((n) => {
    const v = valid();
    return v.subarray(0, n % v.length);
  }),
  // A valid upgrade request with garbage after it (pipelined or a broken frame).
  fc
    .uint8Array({ minLength: 1, maxLength: 64 })
    .map((a) => Buffer.concat([valid(), Buffer.from(a)])),
  // A valid request with one byte flipped.
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
    const v = Buffer.from(valid());
    const at = i % v.length;
    v[at] = (v[at] as number) ^ x;
    return v;
  }),
  // Oversize: a head far past 16 KiB.
  fc
    .integer({ min: 17, max: 64 })
    .map((k) => Buffer.from(`GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ${'a'.repeat(k * 1024)}\r\n\r\n`)),
  // Many requests pipelined, some not HTTP.
  fc
    .array(
      fc.constantFrom(
        'GET / HTTP/1.1\r\nHost: h\r\n\r\n',
        'HEAD /x HTTP/1.1\r\n\r\n',
        'POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc',
        '\x16\x03\x01',
      ),
      { maxLength: 6 },
    )
    .map((l) => Buffer.from(l.join(''))),
);

describe('websocks-server handshake fuzz (real sockets)', () => {
  it('answers as the site or closes within its deadlines, and keeps serving', async () => {
    await fc.assert(
      fc.asyncProperty(
        requestBytes,
        fc.boolean(),
        fc.option(fc.uint8Array({ minLength: 1, maxLength: 200 }), { freq: 3 }),
        async (bytes, endOurSide, after) => {
          const { reply } = await exchange(
            bytes,
            endOurSide,
            after === null ? null : Buffer.from(after),
          );
          const text = reply.toString('latin1');
          if (text.length > 0) {
            expect(text.startsWith('HTTP/1.1 ')).toBe(true);
            // Only what a web server says, or the 101 of a request that was valid.
            expect(text.slice(9, 12)).toMatch(/^(101|200|301|400|403|404|405)$/);
            // A refusal never hints at a proxy (a 101 names its subprotocol, socks5).
            if (!text.startsWith('HTTP/1.1 101 ')) {
              expect(text).not.toMatch(/vproxy|websocks|socks|Unauthorized|WWW-Authenticate/i);
            }
          }
        },
      ),
      fcParams({ numRuns: 60 }),
    );
    // Still serving tunnels afterwards.
    const s = connect(server.door.address().port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    const code = await openTunnel(s, { user: 'alice', password: 'secret' }, 'h', {
      host: '127.0.0.1',
      port: server.door.address().port,
    });
    expect(code).toBe(0);
    s.destroy();
  }, 120_000);
});
