import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { isVproxyError } from '../../../src/fd/errors.js';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import type { WsListenerStats, WsServerFD } from '../../../transports/ws/index.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { acceptFor, afterHead, binaryFrame, closeCode, exchange, upgradeRequest } from './wire.js';

// Every kind of bad input gets a clear HTTP status or close code, is counted on
// the listener, and leaves the other connections alone: a good framed and a
// good raw connection echo before and after each test.

const registry = createDefaultRegistry();
let baseline: string[];
let server: WsServerFD;
let port: number;
let good: StreamFD[];
let before: WsListenerStats;

function delta(): Partial<Record<keyof WsListenerStats, number>> {
  const now = server.stats();
  const out: Partial<Record<keyof WsListenerStats, number>> = {};
  for (const key of Object.keys(now) as (keyof WsListenerStats)[]) {
    const d = now[key] - before[key];
    if (d !== 0) out[key] = d;
  }
  return out;
}

async function echoes(fd: StreamFD): Promise<void> {
  const data = randomBytes(4096);
  const chunks: Buffer[] = [];
  let length = 0;
  const done = new Promise<void>((resolve) => {
    const onData = (c: Buffer) => {
      chunks.push(c);
      length += c.length;
      if (length >= data.length) {
        fd.off('data', onData);
        resolve();
      }
    };
    fd.on('data', onData);
  });
  fd.write(data);
  await done;
  expect(Buffer.concat(chunks).equals(data)).toBe(true);
}

/** A ws-library client (a real, but misbehaving, WebSocket peer); resolves with the close code. */
async function wsClientCloseCode(act: (ws: WebSocket) => void): Promise<number> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/tunnel`);
  ws.on('error', () => {});
  await once(ws, 'open');
  const closed = once(ws, 'close');
  act(ws);
  const [code] = (await closed) as [number];
  return code;
}

beforeAll(async () => {
  baseline = snapshotSockets();
  server = (await registry.listen('ws://127.0.0.1:0/tunnel?max-payload=65536')) as WsServerFD;
  server.on('error', () => {});
  let accepted = 0;
  const bothAccepted = new Promise<void>((resolve) => {
    server.on('connection', (fd) => {
      fd.on('error', () => {});
      fd.pipe(fd);
      if (++accepted === 2) resolve();
    });
  });
  port = server.address().port;
  good = [
    await registry.connect(`ws://127.0.0.1:${port}/tunnel`),
    await registry.connect(`ws://127.0.0.1:${port}/tunnel?ws-mode=raw`),
  ];
  // A raw client is ready before the server has read its header: wait for both ends.
  await bothAccepted;
});

afterAll(async () => {
  for (const fd of good) fd.destroy();
  await server.close();
  await expectNoLeakedSockets(baseline);
});

afterEach(async () => {
  for (const fd of good) await echoes(fd);
});

describe('a ws listener given bad input', () => {
  it('answers a client that does not speak HTTP with 400 and closes', async () => {
    before = server.stats();
    const tlsHello = Buffer.from('16030100a5010000a10303', 'hex');
    const { reply, closed } = await exchange(port, tlsHello);
    expect(reply.toString()).toMatch(/^HTTP\/1\.1 400 /);
    expect(closed).toBe(true);
    expect(delta()).toEqual({ notHttp: 1 });
  });

  it('answers a plain HTTP request with 426 and closes (no hang)', async () => {
    before = server.stats();
    const { reply, closed } = await exchange(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const text = reply.toString();
    expect(text).toMatch(/^HTTP\/1\.1 426 /);
    expect(text).toMatch(/\r\nupgrade: websocket\r\n/i);
    expect(closed).toBe(true);
    expect(delta()).toEqual({ httpRequests: 1 });
  });

  it('lets the application answer plain HTTP requests', async () => {
    before = server.stats();
    const previous = server.httpHandler;
    server.httpHandler = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 13 });
      res.end('status: fine\n');
    };
    try {
      // Keep-alive is the handler's business (the handshake timeout reaps idle ones):
      // the connection still takes a second request once the first is answered. Each
      // reply is waited for, with seconds of deadline, not collected for a fixed window.
      const request = 'GET /status HTTP/1.1\r\nHost: x\r\n\r\n';
      const { reply, closed } = await exchange(
        port,
        request,
        5000,
        { after: 'status: fine\n', send: (s) => s.write(request) },
        (r) => r.toString().split('status: fine\n').length === 3,
      );
      expect(reply.toString()).toMatch(
        /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nstatus: fine\nHTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nstatus: fine\n$/,
      );
      expect(closed).toBe(false);
      expect(delta()).toEqual({ httpRequests: 2 });
    } finally {
      server.httpHandler = previous;
    }
  });

  it.each([
    {
      what: 'a missing Sec-WebSocket-Key',
      request: upgradeRequest('/tunnel').replace(/Sec-WebSocket-Key: .*\r\n/, ''),
      status: 400,
      counter: 'badHandshakes',
    },
    {
      what: 'an unknown Sec-WebSocket-Version',
      request: upgradeRequest('/tunnel').replace('Version: 13', 'Version: 99'),
      status: 400,
      counter: 'badHandshakes',
    },
    {
      what: 'a POST upgrade',
      request: upgradeRequest('/tunnel').replace('GET', 'POST'),
      status: 405,
      counter: 'badHandshakes',
    },
    {
      what: 'another path',
      request: upgradeRequest('/elsewhere'),
      status: 404,
      counter: 'refused',
    },
  ] as const)(
    'answers an upgrade with $what with $status and counts it',
    async ({ request, status, counter }) => {
      before = server.stats();
      const { reply, closed } = await exchange(port, request);
      expect(reply.toString()).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      expect(closed).toBe(true);
      expect(delta()).toEqual({ [counter]: 1 });
    },
  );

  it('closes with 1002 a client whose frames are not masked', async () => {
    before = server.stats();
    const { reply, closed } = await exchange(port, upgradeRequest('/tunnel'), 3000, {
      after: '\r\n\r\n',
      send: (s) => s.write(binaryFrame(Buffer.from('hello'), null)),
    });
    expect(reply.toString()).toMatch(/^HTTP\/1\.1 101 /);
    expect(closeCode(afterHead(reply))).toBe(1002);
    expect(closed).toBe(true);
    expect(delta()).toEqual({ framedAccepted: 1, maskViolations: 1 });
  });

  it('closes with 1009 a client that sends a message above max-payload', async () => {
    before = server.stats();
    const code = await wsClientCloseCode((ws) => ws.send(Buffer.alloc(70_000)));
    expect(code).toBe(1009);
    expect(delta()).toEqual({ framedAccepted: 1, oversizedMessages: 1 });
  });

  it('closes with 1003 a client that sends text on the byte stream', async () => {
    before = server.stats();
    const code = await wsClientCloseCode((ws) => ws.send('some text'));
    expect(code).toBe(1003);
    expect(delta()).toEqual({ framedAccepted: 1, protocolErrors: 1 });
  });

  it('closes with 1002 a client that sends data after its end-of-stream message', async () => {
    before = server.stats();
    const code = await wsClientCloseCode((ws) => {
      ws.send(Buffer.alloc(0));
      ws.send(Buffer.from('late'));
    });
    expect(code).toBe(1002);
    expect(delta()).toEqual({ framedAccepted: 1, protocolErrors: 1 });
  });

  it('refuses with the upgrade hook’s answer, and accepts what it lets through', async () => {
    before = server.stats();
    const seen: string[] = [];
    server.upgradeHook = (req, info) => {
      seen.push(`${info.mode}/${info.earlyBytes}`);
      return req.headers['x-token'] === 'open-sesame'
        ? undefined
        : { status: 401, headers: { 'WWW-Authenticate': 'Basic realm="ws"' } };
    };
    try {
      const refused = await registry.connect(`ws://127.0.0.1:${port}/tunnel`).then(
        () => 'connected',
        (err: Error) => err,
      );
      expect(isVproxyError(refused, 'ERR_WS_HANDSHAKE')).toBe(true);
      expect((refused as Error).message).toContain('401');
      // A client that pipelines bytes after its request: the hook sees how many.
      const { reply } = await exchange(port, `${upgradeRequest('/tunnel')}early`);
      expect(reply.toString()).toMatch(/^HTTP\/1\.1 401 [\s\S]*WWW-Authenticate: Basic realm="ws"/);
      for (const mode of ['framed', 'raw']) {
        const fd = await registry.connect(
          `ws://127.0.0.1:${port}/tunnel?ws-mode=${mode}&headers=X-Token:open-sesame`,
        );
        await echoes(fd);
        fd.destroy();
      }
      expect(delta()).toEqual({ refused: 2, framedAccepted: 1, rawAccepted: 1 });
      expect(seen).toEqual(['framed/0', 'framed/5', 'framed/0', 'raw/0']);
    } finally {
      server.upgradeHook = null;
    }
  });

  it('answers 500 when the upgrade hook throws, and keeps serving', async () => {
    before = server.stats();
    const bugs: Error[] = [];
    const onBug = (err: Error) => bugs.push(err);
    server.on('error', onBug);
    server.upgradeHook = () => {
      throw new Error('hook bug');
    };
    try {
      const { reply, closed } = await exchange(port, upgradeRequest('/tunnel'));
      expect(reply.toString()).toMatch(/^HTTP\/1\.1 500 /);
      expect(closed).toBe(true);
      expect(bugs.map((e) => e.message)).toEqual(['hook bug']);
      expect(delta()).toEqual({ refused: 1 });
    } finally {
      server.upgradeHook = null;
      server.off('error', onBug);
    }
  });
});

describe('a ws client given a bad server', () => {
  it('fails with ERR_WS_PROTOCOL and closes with 1002 when the server masks its frames', async () => {
    let resolveCode: (code: number) => void = () => {};
    const code = new Promise<number>((r) => {
      resolveCode = r;
    });
    const fake = createServer((socket: Socket) => {
      socket.on('error', () => {});
      let head = '';
      let upgraded = false;
      const after: Buffer[] = [];
      socket.on('data', (c: Buffer) => {
        if (upgraded) {
          after.push(c);
          const got = closeCode(Buffer.concat(after));
          if (got !== -1) resolveCode(got);
          return;
        }
        head += c.toString('latin1');
        const key = /sec-websocket-key: (.+)\r\n/i.exec(head)?.[1];
        if (!head.includes('\r\n\r\n') || key === undefined) return;
        upgraded = true;
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            `Sec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`,
        );
        socket.write(binaryFrame(Buffer.from('hello'), Buffer.from([1, 2, 3, 4])));
      });
    });
    fake.listen(0, '127.0.0.1');
    await once(fake, 'listening');
    const fakePort = (fake.address() as { port: number }).port;
    try {
      const client = await registry.connect(`ws://127.0.0.1:${fakePort}/`);
      const [err] = await once(client, 'error');
      expect(isVproxyError(err, 'ERR_WS_PROTOCOL')).toBe(true);
      expect((err as Error).message).toContain('WS_ERR_UNEXPECTED_MASK');
      expect(await code).toBe(1002);
      client.destroy();
    } finally {
      fake.close();
      fake.unref();
    }
  });

  it.each([
    { what: 'never answers the upgrade', mode: 'framed', answer: false },
    { what: 'answers 101 but never sends its raw header', mode: 'raw', answer: true },
  ])('gives up on a server that $what (connect timeout)', async ({ mode, answer }) => {
    const sockets = new Set<Socket>();
    const mute = createServer((socket: Socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.once('data', (c: Buffer) => {
        const key = /sec-websocket-key: (.+)\r\n/i.exec(c.toString('latin1'))?.[1];
        if (answer && key !== undefined) {
          socket.write(
            'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
              `Sec-WebSocket-Accept: ${acceptFor(key)}\r\nSec-WebSocket-Protocol: vproxy-raw\r\n\r\n`,
          );
        }
      });
    });
    mute.listen(0, '127.0.0.1');
    await once(mute, 'listening');
    try {
      const mutePort = (mute.address() as { port: number }).port;
      const started = Date.now();
      const err = await registry
        .connect(`ws://127.0.0.1:${mutePort}/?ws-mode=${mode}`, { timeoutMs: 200 })
        .then(
          () => null,
          (e: Error) => e,
        );
      expect(isVproxyError(err, 'ERR_CONNECT_TIMEOUT')).toBe(true);
      // The 200 ms timeout, with seconds of slack for a loaded machine (not a hang).
      expect(Date.now() - started).toBeLessThan(5000);
      // The half-built client was torn down: the server sees its socket close.
      const [socket] = [...sockets];
      if (socket && !socket.closed) await once(socket, 'close');
    } finally {
      for (const s of sockets) s.destroy();
      mute.close();
    }
  });
});

describe('a ws listener with a short handshake timeout', () => {
  it('drops silent and trickling clients and counts them', async () => {
    const slow = (await registry.listen('ws://127.0.0.1:0/', {
      handshakeTimeoutMs: 200,
    })) as WsServerFD;
    const slowPort = slow.address().port;
    try {
      const silent = exchange(slowPort, Buffer.alloc(0), 3000);
      const trickle = exchange(slowPort, 'GET / HTTP/1.1\r\nUpgrade: websocket\r\n', 3000);
      expect((await silent).closed).toBe(true);
      expect((await trickle).closed).toBe(true);
      expect(slow.stats().handshakeTimeouts).toBe(2);
    } finally {
      await slow.close();
    }
  });
});
