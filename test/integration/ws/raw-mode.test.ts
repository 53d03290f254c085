import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { MAX_LENGTH_FRAME, type WsServerFD } from '../../../transports/ws/index.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { readAll } from '../../helpers/net.js';
import { acceptFor, afterHead, exchange, upgradeRequest } from './wire.js';

// Raw mode on the wire, against the WebSocks description (spec apps.md §3.1,
// §3.5, §3.8): a client written from the spec talks to our listener, and our
// client talks to a server written from the spec.

const registry = createDefaultRegistry();
const SPEC_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';
let baseline: string[];
let server: WsServerFD;
let port: number;

beforeAll(async () => {
  baseline = snapshotSockets();
  server = (await registry.listen('ws://127.0.0.1:0/?raw-subprotocols=socks5')) as WsServerFD;
  server.on('connection', (fd) => {
    fd.on('error', () => {});
    fd.pipe(fd);
  });
  port = server.address().port;
});

afterAll(async () => {
  await server.close();
  await expectNoLeakedSockets(baseline);
});

describe('raw mode, listener side', () => {
  it('serves a WebSocks client: 101, waits for its header, strips PONGs, answers 10 bytes', async () => {
    const before = server.stats().rawAccepted;
    const request = upgradeRequest('/', [
      'Sec-WebSocket-Protocol: socks5',
      'Authorization: Basic dXNlcjpoYXNo',
    ]);
    const socket = connect({ host: '127.0.0.1', port });
    await once(socket, 'connect');
    const received: Buffer[] = [];
    socket.on('data', (c: Buffer) => received.push(c));
    socket.write(request);
    while (!Buffer.concat(received).includes('\r\n\r\n')) await sleep(5);
    const head = Buffer.concat(received).toString('latin1');
    expect(head).toMatch(/^HTTP\/1\.1 101 /);
    expect(head).toContain(`Sec-WebSocket-Accept: ${SPEC_ACCEPT}\r\n`);
    expect(head).toContain('Sec-WebSocket-Protocol: socks5\r\n');
    // §3.5: for a WebSocks client the server answers only after the client's header.
    await sleep(150);
    expect(afterHead(Buffer.concat(received)).length).toBe(0);
    // §3.8: idle PONGs, then (pipelined, §3.7) the header and the first payload.
    socket.write(Buffer.from([0x8a, 0x00]));
    await sleep(20);
    socket.write(
      Buffer.concat([Buffer.from([0x8a, 0x00]), MAX_LENGTH_FRAME, Buffer.from('hello')]),
    );
    while (afterHead(Buffer.concat(received)).length < 15) await sleep(5);
    const after = afterHead(Buffer.concat(received));
    expect(after.subarray(0, 10).equals(MAX_LENGTH_FRAME)).toBe(true);
    expect(after.subarray(10).toString()).toBe('hello');
    socket.destroy();
    expect(server.stats().rawAccepted - before).toBe(1);
  });

  it('sends its header right after the 101 to our own raw clients (no extra round trip)', async () => {
    // Nothing is sent after the upgrade request: a header that arrives at all came
    // without a round trip, so the wait is for the header, with seconds of deadline.
    const { reply } = await exchange(
      port,
      upgradeRequest('/', ['Sec-WebSocket-Protocol: vproxy-raw']),
      5000,
      undefined,
      (r) => afterHead(r).length >= MAX_LENGTH_FRAME.length,
    );
    expect(reply.toString('latin1')).toContain('Sec-WebSocket-Protocol: vproxy-raw\r\n');
    expect(afterHead(reply).equals(MAX_LENGTH_FRAME)).toBe(true);
  });

  it('lets our raw client speak the WebSocks subprotocol (server answers after our header)', async () => {
    const fd = await registry.connect(`ws://127.0.0.1:${port}/?ws-mode=raw&subprotocol=socks5`);
    fd.end('through socks5-style raw mode');
    expect((await readAll(fd)).toString()).toBe('through socks5-style raw mode');
  });
});

describe('raw mode, client side', () => {
  it('sends the exact unmasked header and never validates the server’s', async () => {
    let clientHeader: Buffer | null = null;
    const fake = createServer((socket: Socket) => {
      socket.on('error', () => {});
      let buffered = Buffer.alloc(0);
      let upgraded = false;
      socket.on('data', (c: Buffer) => {
        buffered = Buffer.concat([buffered, c]);
        if (!upgraded) {
          const text = buffered.toString('latin1');
          const end = text.indexOf('\r\n\r\n');
          const key = /sec-websocket-key: (.+)\r\n/i.exec(text)?.[1];
          if (end < 0 || key === undefined) return;
          upgraded = true;
          buffered = buffered.subarray(end + 4);
          socket.write(
            'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
              `Sec-WebSocket-Accept: ${acceptFor(key)}\r\nSec-WebSocket-Protocol: vproxy-raw\r\n\r\n`,
          );
        }
        if (clientHeader === null && buffered.length >= 10) {
          clientHeader = buffered.subarray(0, 10);
          buffered = buffered.subarray(10);
          // A debug build's header (length 3): content is not to be checked.
          socket.write(Buffer.from([0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0, 3]));
          socket.write('from the server');
          socket.end();
        }
      });
    });
    fake.listen(0, '127.0.0.1');
    await once(fake, 'listening');
    try {
      const fakePort = (fake.address() as { port: number }).port;
      const fd = await registry.connect(`ws://127.0.0.1:${fakePort}/?ws-mode=raw`);
      expect((await readAll(fd)).toString()).toBe('from the server');
      expect((clientHeader as Buffer | null)?.equals(MAX_LENGTH_FRAME)).toBe(true);
      expect(fd.bytesRead).toBe('from the server'.length);
      fd.destroy();
    } finally {
      fake.close();
    }
  });
});
