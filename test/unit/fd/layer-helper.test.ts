import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAddress } from '../../../src/fd/address.js';
import type { DatagramFD } from '../../../src/fd/datagram-fd.js';
import type { OptionSchema } from '../../../src/fd/layer-options.js';
import { stringOption } from '../../../src/fd/options.js';
import { Registry } from '../../../src/fd/registry.js';
import type { BoundAddress } from '../../../src/fd/server-fd.js';
import { type PacketCodec, packetLayer } from '../../../src/fd/session-layer.js';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import { type Handshake, streamLayer } from '../../../src/fd/stream-layer.js';
import { tcpTransport } from '../../../transports/tcp/index.js';
import { udpTransport } from '../../../transports/udp/index.js';
import { until } from '../../helpers/wait.js';

// The layer helper is meant for the coming kcptun layers too: a stream layer (smux, snappy)
// and a packet layer (crypt, FEC). Toy versions of both, built only from the helper.

interface HelloOptions {
  readonly greeting: string;
}

const HELLO: OptionSchema<HelloOptions> = {
  prefix: 'hello',
  specs: [{ name: 'greeting', description: 'one byte both sides send first' }],
  parse: (view) => ({ greeting: stringOption(view, 'greeting') ?? 'H' }),
};

/** Both sides send one byte and wait for the peer's before the stream is theirs. */
function greet(inner: StreamFD, greeting: string): Handshake {
  const ready = new Promise<StreamFD>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      inner.off('data', onData);
      inner.pause();
      const rest = chunk.subarray(1);
      if (rest.length > 0) inner.unshift(rest);
      if (chunk.subarray(0, 1).toString() === greeting) resolve(inner);
      else reject(new Error('wrong greeting'));
    };
    inner.on('data', onData);
    // A tcp listener hands streams over paused (pauseOnConnect): a listener alone would not start them.
    inner.resume();
    inner.write(greeting);
  });
  return { ready, abort: () => inner.destroy() };
}

const helloLayer = streamLayer({
  schema: HELLO,
  client: (inner, options) => greet(inner, options.greeting),
  server: async (options) => (inner) => greet(inner, options.greeting),
});

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function silentServer(): Promise<number> {
  const accepted = new Set<Socket>();
  const server: Server = createServer((s) => {
    accepted.add(s);
    s.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  // Its accepted sockets never read, so they never see the client's FIN: close them here.
  cleanups.push(() => {
    for (const s of accepted) s.destroy();
    server.close();
  });
  return (server.address() as { port: number }).port;
}

describe('streamLayer: a toy stream layer gets options, deadline and abort from the helper', () => {
  const registry = new Registry().registerTransport(tcpTransport).registerLayer(helloLayer);

  it('handshakes with its own (prefixed) option and carries bytes', async () => {
    const server = await registry.listen('hello+tcp://127.0.0.1:0?hello.greeting=Z');
    cleanups.push(() => server.close());
    server.on('connection', (fd) => fd.pipe(fd));
    const fd = await registry.connect(
      `hello+tcp://127.0.0.1:${server.address().port}?greeting=Z&nodelay=1`,
    );
    fd.end('payload');
    const chunks: Buffer[] = [];
    for await (const c of fd) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('payload');
  });

  it('a peer that never answers fails at the connect deadline', async () => {
    const port = await silentServer();
    await expect(
      registry.connect(`hello://127.0.0.1:${port}`, { timeoutMs: 150 }),
    ).rejects.toMatchObject({ code: 'ERR_CONNECT_TIMEOUT' });
  });

  it('an abort fails the handshake at once', async () => {
    const port = await silentServer();
    const abort = new AbortController();
    const connecting = registry.connect(`hello://127.0.0.1:${port}`, { signal: abort.signal });
    setTimeout(() => abort.abort(), 30);
    await expect(connecting).rejects.toMatchObject({ code: 'ERR_CONNECT_ABORTED' });
  });

  it('a bad value fails before anything connects', async () => {
    await expect(registry.connect('hello://127.0.0.1:9?greeting=')).rejects.toMatchObject({
      code: 'ERR_OPTION_INVALID',
    });
  });
});

describe('packetLayer: a toy datagram transform (what crypt and FEC are)', () => {
  interface XorOptions {
    readonly byte: number;
  }
  const XOR: OptionSchema<XorOptions> = {
    prefix: 'xor',
    specs: [{ name: 'byte', description: 'XOR key' }],
    parse: (view) => ({ byte: Number(view.options.byte ?? '0x5a') }),
  };
  const codec = ({ byte }: XorOptions): PacketCodec => {
    const xor = (b: Buffer) => Buffer.from(b.map((x) => x ^ byte));
    // Like FEC: every datagram goes out twice; the receiver drops the second copy.
    let last = '';
    return {
      encode: (d) => [xor(d), xor(d)],
      decode: (d) => {
        const plain = xor(d).toString('hex');
        if (plain === last) return [];
        last = plain;
        return [xor(d)];
      },
    };
  };
  const xorUdp = packetLayer({ schema: XOR, codec }).wrap(udpTransport, 'xor+udp');

  it('encodes on send and decodes on receive; a raw peer sees the wire bytes', async () => {
    const a = await xorUdp.bind(parseAddress('xor+udp://127.0.0.1:0?xor.byte=7'));
    const b = await xorUdp.bind(parseAddress('xor+udp://127.0.0.1:0?byte=7'));
    const raw: DatagramFD = await udpTransport.bind(parseAddress('udp://127.0.0.1:0'));
    cleanups.push(
      () => a.close(),
      () => b.close(),
      () => raw.close(),
    );
    const got: string[] = [];
    b.on('message', (d) => got.push(d.toString()));
    const wire: Buffer[] = [];
    raw.on('message', (d) => wire.push(d));
    const to = (fd: DatagramFD): BoundAddress => fd.address();
    a.send(Buffer.from('one'), to(b));
    a.send(Buffer.from('two'), to(b));
    a.send(Buffer.from('one'), to(raw));
    // Until all three arrived, not a 100 ms sleep: a stalled process runs the sleep's timer
    // before it reads datagrams already in its sockets.
    await until('the three datagrams', () => got.length + wire.length >= 3, 5000);
    expect(got).toEqual(['one', 'two']);
    expect(wire.map((d) => Buffer.from(d.map((x) => x ^ 7)).toString())).toEqual(['one', 'one']);
  });
});
