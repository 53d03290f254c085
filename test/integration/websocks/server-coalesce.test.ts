import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildUpgradeRequest } from '../../../src/protocols/websocks/client-request.js';
import { tunnelOpening, tunnelSteps } from '../../../src/protocols/websocks/socks-stage.js';
import { WebsocksServer } from '../../../src/websocks/server/websocks-server.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { useEchoBackend } from '../../helpers/echo-fixture.js';
import { readBytes, readResponse } from './ws-client.js';

// The open path's segments: a client that pipelines frame + greeting + CONNECT gets the
// server's frame, method selection and reply in one write (one segment, one wakeup); a
// strict client, which waits for each answer, still gets each one at once.

const echo = useEchoBackend();
let server: WebsocksServer;

beforeAll(async () => {
  server = await WebsocksServer.start({
    listen: 'ws://127.0.0.1:0',
    auth: 'alice:secret',
    registry: createDefaultRegistry(),
    allowLoopback: true,
  });
});

afterAll(async () => {
  await server?.close();
});

async function upgraded(): Promise<Socket> {
  const s = connect(server.door.address().port, '127.0.0.1');
  await once(s, 'connect');
  s.setNoDelay(true);
  s.write(
    buildUpgradeRequest({
      host: '127.0.0.1',
      port: 443,
      tls: false,
      user: 'alice',
      password: 'secret',
      nowMs: Date.now(),
    }),
  );
  expect((await readResponse(s)).statusLine).toBe('HTTP/1.1 101 Switching Protocols');
  return s;
}

/** The next chunk the socket delivers. */
function nextChunk(s: Socket): Promise<Buffer> {
  return new Promise((resolve) => {
    const read = () => {
      const chunk = s.read() as Buffer | null;
      if (chunk === null) return;
      s.off('readable', read);
      resolve(chunk);
    };
    s.on('readable', read);
    read();
  });
}

describe('websocks-server answers on the open path', () => {
  it('pipelined: frame, method selection and CONNECT reply arrive in one chunk', async () => {
    for (let i = 0; i < 5; i++) {
      const s = await upgraded();
      s.write(tunnelOpening('127.0.0.1', echo.port));
      const chunk = await nextChunk(s);
      expect(chunk.length).toBe(10 + 2 + 10);
      expect(chunk.subarray(0, 12).toString('hex')).toBe('827f7fffffffffffffff0500');
      expect(chunk[13]).toBe(0); // REP succeeded
      s.write('x');
      expect((await readBytes(s, 1)).toString()).toBe('x');
      s.destroy();
    }
  });

  it('strict: each step is answered before the next is sent', async () => {
    const s = await upgraded();
    const steps = tunnelSteps('127.0.0.1', echo.port);
    s.write(steps.frame);
    expect((await readBytes(s, 10, 2000)).toString('hex')).toBe('827f7fffffffffffffff');
    s.write(steps.greeting);
    expect((await readBytes(s, 2, 2000)).toString('hex')).toBe('0500');
    s.write(steps.connect);
    const reply = await readBytes(s, 10, 2000);
    expect(reply[1]).toBe(0);
    s.destroy();
  });

  it('a refused target: frame and method selection still precede the failure reply', async () => {
    const s = await upgraded();
    // Port 1 on loopback: nothing listens, so the reply is a failure code.
    s.write(tunnelOpening('127.0.0.1', 1));
    const all = await readBytes(s, 22, 5000);
    expect(all.subarray(0, 12).toString('hex')).toBe('827f7fffffffffffffff0500');
    expect(all[13]).not.toBe(0);
    s.destroy();
  });
});
