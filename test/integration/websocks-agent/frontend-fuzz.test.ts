import { once } from 'node:events';
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quietLogger } from '../../../src/fd/logger.js';
import { parseAgentConfig } from '../../../src/protocols/websocks/agent-config.js';
import { WebsocksAgent } from '../../../src/websocks/agent.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { fcParams } from '../../helpers/fc.js';
import { closedPort, startEchoServer, stopServer } from '../../helpers/net.js';
import { type MiniServer, startMiniServer } from './mini-server.js';

/**
 * Whatever a client sends to the agent's SOCKS5 and HTTP front ends —
 * garbage, truncated or oversize heads, valid prefixes with junk after — it
 * gets a clear answer or a close within the handshake deadline, the agent
 * never crashes, and it still serves a good client afterwards.
 */
let agent: WebsocksAgent;
let socks: number;
let http: number;
let server: MiniServer;
let echo: Awaited<ReturnType<typeof startEchoServer>>;
const HANDSHAKE_MS = 800;

beforeAll(async () => {
  server = await startMiniServer();
  echo = await startEchoServer();
  socks = await closedPort();
  http = await closedPort();
  const config = parseAgentConfig(
    [
      `agent.listen ${socks}`,
      `agent.httpconnect.listen ${http}`,
      'proxy.server.auth alice:secret',
      'agent.pool 0',
      'proxy.server.list.start',
      `websocks://127.0.0.1:${server.port}`,
      'proxy.server.list.end',
      'proxy.domain.list.start',
      'example.com',
      'proxy.domain.list.end',
    ].join('\n'),
    { home: '/nonexistent' },
  );
  agent = await WebsocksAgent.start({
    config,
    registry: createDefaultRegistry(),
    logger: quietLogger,
    handshakeTimeoutMs: HANDSHAKE_MS,
    connectTimeoutMs: 1_000,
  });
});

afterAll(async () => {
  await agent.close();
  await server.close();
  await stopServer(echo.server, echo.sockets);
});

/** Send `bytes` (optionally half-closing), collect the answer; resolves when the agent closes. */
async function poke(
  port: number,
  bytes: Uint8Array,
  end: boolean,
): Promise<{ answer: Buffer; ms: number }> {
  const s = connect(port, '127.0.0.1');
  s.on('error', () => {});
  await once(s, 'connect');
  const started = Date.now();
  const parts: Buffer[] = [];
  s.on('data', (d: Buffer) => parts.push(d));
  s.write(bytes);
  if (end) s.end();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('connection stuck open')), HANDSHAKE_MS * 4);
    s.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return { answer: Buffer.concat(parts), ms: Date.now() - started };
}

const httpish = fc.oneof(
  fc.uint8Array({ maxLength: 600 }),
  fc
    .tuple(
      fc.constantFrom('CONNECT', 'GET', 'POST', 'PUT', 'G ET', ''),
      fc.constantFrom(
        '[::1]:0',
        'example.com:99999',
        'http://127.0.0.1:0/',
        'http://[::1/',
        'localhost',
        '/pac',
        '*',
        '%00',
      ),
      fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2', 'http/1.1', ''),
      fc.array(fc.string({ maxLength: 40 }), { maxLength: 6 }),
      fc.constantFrom('\r\n\r\n', '\r\n', '\n\n', ''),
    )
    .map(([m, t, v, h, tail]) => Buffer.from(`${m} ${t} ${v}\r\n${h.join('\r\n')}${tail}`, 'utf8')),
  fc
    .integer({ min: 16 * 1024, max: 40 * 1024 })
    .map((n) => Buffer.from(`GET http://a/ HTTP/1.1\r\nX: ${'a'.repeat(n)}`)),
);

const socksish = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc
    .tuple(fc.uint8Array({ minLength: 1, maxLength: 4 }), fc.uint8Array({ maxLength: 270 }))
    .map(([m, r]) => Buffer.concat([Buffer.from([5, m.length]), m, Buffer.from([5]), r])),
  fc
    .tuple(
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 255 }),
      fc.uint8Array({ maxLength: 40 }),
    )
    .map(([cmd, atyp, rest]) => Buffer.concat([Buffer.from([5, 1, 0, 5, cmd, 0, atyp]), rest])),
);

describe('agent front ends under garbage (real sockets)', () => {
  it('HTTP: a clear 4xx/5xx or a close, never stuck, never a crash', async () => {
    await fc.assert(
      fc.asyncProperty(httpish, fc.boolean(), async (bytes, end) => {
        const { answer } = await poke(http, bytes, end);
        const text = answer.toString('latin1');
        // Either nothing (closed) or an HTTP status line the client can read.
        expect(text === '' || /^HTTP\/1\.[01] [2-5][0-9][0-9] /.test(text)).toBe(true);
      }),
      fcParams({ numRuns: 60 }),
    );
  }, 120_000);

  it('SOCKS5: a reply code or a close, never stuck, never a crash', async () => {
    await fc.assert(
      fc.asyncProperty(socksish, fc.boolean(), async (bytes, end) => {
        const { answer } = await poke(socks, bytes, end);
        if (answer.length > 0) expect(answer[0]).toBe(5);
      }),
      fcParams({ numRuns: 60 }),
    );
  }, 120_000);

  it('still serves a good client after all that', async () => {
    const s = connect(http, '127.0.0.1');
    await once(s, 'connect');
    s.write(`CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\n\r\nping`);
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    for (let i = 0; i < 50 && !Buffer.concat(got).toString().endsWith('ping'); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(Buffer.concat(got).toString()).toBe('HTTP/1.1 200 Connection established\r\n\r\nping');
    s.destroy();
  });
});
