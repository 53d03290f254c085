import { once } from 'node:events';
import { connect, createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { createLogger } from '../../../src/fd/logger.js';
import { probeTakeover } from '../../../transports/ws/takeover-socket.js';

// A future ws without the private WebSocket#setSocket must cost raw mode only: the modules
// load (every entry point imports them), the ws layer says why once, raw mode is refused
// with that reason, and everything else runs.

describe('probeTakeover', () => {
  it('finds the hook on ws as installed, and reports a prototype without it', () => {
    expect(probeTakeover(WebSocket.prototype).support.available).toBe(true);
    const missing = probeTakeover({});
    expect(missing.support.available).toBe(false);
    expect(missing.support.reason).toContain('setSocket');
    expect(missing.base).toBeNull();
  });
});

describe('a ws without the raw-mode hook', () => {
  const proto = WebSocket.prototype as unknown as { setSocket?: unknown };
  const saved = proto.setSocket;
  let echo: Server;

  beforeAll(async () => {
    // Simulate the missing hook, then load the transports afresh so they probe again.
    delete proto.setSocket;
    vi.resetModules();
    echo = createServer({ allowHalfOpen: true }, (s) => s.pipe(s)).listen(0, '127.0.0.1');
    await once(echo, 'listening');
  });

  afterAll(() => {
    proto.setSocket = saved;
    vi.resetModules();
    echo.close();
  });

  it('loads, warns once, refuses raw mode with the reason, and tcp still runs', async () => {
    const lines: string[] = [];
    const logger = createLogger({ threshold: 'warn', write: (l) => lines.push(l) });
    const { createDefaultRegistry } = await import('../../../transports/default-registry.js');
    const { rawTakeover } = await import('../../../transports/ws/takeover-socket.js');
    expect(rawTakeover.available).toBe(false);

    const registry = createDefaultRegistry(logger);
    expect(lines.filter((l) => l.includes('ws-raw-mode-unavailable'))).toHaveLength(1);
    expect(lines[0]).toContain('setSocket');

    await expect(registry.connect('ws://127.0.0.1:9/?ws.mode=raw')).rejects.toMatchObject({
      code: 'ERR_NOT_SUPPORTED',
      message: expect.stringContaining('setSocket'),
    });

    const port = (echo.address() as { port: number }).port;
    const fd = await registry.connect(`tcp://127.0.0.1:${port}`);
    fd.end('ping');
    const chunks: Buffer[] = [];
    for await (const chunk of fd) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('ping');
  });

  it('a ws listener answers raw upgrade requests 501', async () => {
    const { createDefaultRegistry } = await import('../../../transports/default-registry.js');
    const registry = createDefaultRegistry();
    const server = await registry.listen('ws://127.0.0.1:0/t');
    try {
      const socket = connect(server.address().port, '127.0.0.1');
      socket.write(
        'GET /t HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
          'Sec-WebSocket-Protocol: vproxy-raw\r\n\r\n',
      );
      const [head] = (await once(socket, 'data')) as [Buffer];
      expect(head.toString()).toMatch(/^HTTP\/1\.1 501 /);
      socket.destroy();
    } finally {
      await server.close();
    }
  });
});
