import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import type { WsServerFD } from '../../../transports/ws/index.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { readAll } from '../../helpers/net.js';

// Framed mode is plain WebSocket: any client or server library can be the
// other end, following the documented convention (binary messages carry the
// bytes, an empty binary message is end-of-stream, close 1000 is a clean end).

const registry = createDefaultRegistry();
let baseline: string[];

beforeAll(() => {
  baseline = snapshotSockets();
});

afterAll(async () => {
  await expectNoLeakedSockets(baseline);
});

describe('framed mode with a stock WebSocket peer', () => {
  it('a ws-library client: messages in, bytes out, empty message = end', async () => {
    const server = (await registry.listen('ws://127.0.0.1:0/')) as WsServerFD;
    const accepted = new Promise<StreamFD>((r) => server.once('connection', r));
    const client = new WebSocket(`ws://127.0.0.1:${server.address().port}/`);
    const messages: Buffer[] = [];
    client.on('message', (data: Buffer) => messages.push(data));
    await once(client, 'open');
    const fd = await accepted;
    try {
      client.send(Buffer.from('hello '));
      client.send(Buffer.from('world'));
      client.send(Buffer.alloc(0));
      expect((await readAll(fd)).toString()).toBe('hello world');
      const closed = once(client, 'close');
      fd.end('bye');
      const [code] = await closed;
      // Our end is an empty message; both sides done, we close with 1000.
      expect(messages.map((m) => m.toString())).toEqual(['bye', '']);
      expect(code).toBe(1000);
    } finally {
      fd.destroy();
      await server.close();
    }
  });

  it('a ws-library server: our writes arrive as binary messages, end() as an empty one', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    const received: { data: string; binary: boolean }[] = [];
    const peerDone = new Promise<void>((resolve) => {
      wss.on('connection', (ws) => {
        ws.on('message', (data: Buffer, binary: boolean) => {
          received.push({ data: data.toString(), binary });
          if (data.length === 0) {
            ws.send(Buffer.from('ack'));
            ws.close(1000);
            resolve();
          }
        });
      });
    });
    try {
      const port = (wss.address() as { port: number }).port;
      const fd = await registry.connect(`ws://127.0.0.1:${port}/`);
      const closed = once(fd, 'close');
      fd.write('one');
      fd.end('two');
      // A stock peer's close 1000 (without our EOF message) reads as a clean end.
      expect((await readAll(fd)).toString()).toBe('ack');
      await peerDone;
      expect(received).toEqual([
        { data: 'one', binary: true },
        { data: 'two', binary: true },
        { data: '', binary: true },
      ]);
      await closed;
    } finally {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    }
  });
});
