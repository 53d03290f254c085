import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  defaultConfig,
  KcptunClient,
  type KcptunConfig,
  KcptunServer,
} from '../../../transports/kcptun/index.js';
import { pattern, sha } from './harness.js';

/**
 * The kcptun datagram path fed garbage: every datagram is counted and dropped (or, where it
 * is a well-formed KCP start from a new address, becomes a session, as in kcp-go), nothing
 * throws, and a real session next to it, or under it, still moves its data.
 */
const SIZE = 256 * 1024;
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function cfg(side: 'client' | 'server', crypt: string): KcptunConfig {
  return { ...defaultConfig(side), key: 'fuzz', crypt, keepalive: 2 };
}

/** Echo server on our kcptun server; returns the port. */
async function echoServer(crypt: string): Promise<KcptunServer> {
  const server = await KcptunServer.listen('127.0.0.1', 0, cfg('server', crypt));
  cleanups.push(() => server.abort());
  server.on('connection', (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  return server;
}

async function roundTrip(client: KcptunClient): Promise<void> {
  const stream = await client.openStream();
  const data = pattern(SIZE, 9);
  const chunks: Buffer[] = [];
  let got = 0;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`echo: ${got} of ${SIZE} bytes`)), 10_000);
    stream.on('data', (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= SIZE) {
        clearTimeout(timer);
        resolve();
      }
    });
    stream.on('error', reject);
    stream.write(data);
  });
  stream.destroy();
  expect(sha(Buffer.concat(chunks))).toBe(sha(data));
}

const datagram = fc.uint8Array({ minLength: 0, maxLength: 1400 });
/** Shaped like the layers below the crypt: an FEC header, then a KCP header, then noise. */
const shaped = fc
  .tuple(
    fc.integer({ min: 0, max: 0xffffffff }),
    fc.constantFrom(0xf1, 0xf2, 0x00, 0x51),
    fc.integer({ min: 0, max: 0xffff }),
    fc.constantFrom(81, 82, 83, 84, 0xff, 7),
    fc.uint8Array({ maxLength: 1300 }),
  )
  .map(([seq, flag, size, cmd, rest]) => {
    const b = Buffer.alloc(8 + 24 + rest.length);
    b.writeUInt32LE(seq, 0);
    b.writeUInt16LE(flag, 4);
    b.writeUInt16LE(size, 6);
    b.writeUInt32LE((seq ^ 0x5a5a5a5a) >>> 0, 8);
    b[12] = cmd;
    Buffer.from(rest).copy(b, 32);
    return new Uint8Array(b);
  });

describe('kcptun datagram path under garbage', () => {
  for (const crypt of ['null-raw', 'none', 'aes']) {
    it(`${crypt}: garbage from many addresses is counted and dropped; a real session still works`, {
      timeout: 30_000,
    }, async () => {
      const server = await echoServer(crypt);
      const ep = server.endpoint;
      let fed = 0;
      fc.assert(
        fc.property(
          fc.array(fc.oneof(datagram, shaped), { maxLength: 40 }),
          fc.integer({ min: 1, max: 65535 }),
          (grams, port) => {
            for (const g of grams) {
              fed++;
              ep.receive(Buffer.from(g), { address: '127.0.0.2', port });
            }
          },
        ),
        { numRuns: 200 },
      );
      const s = ep.stats;
      expect(s.datagramsIn).toBe(fed);
      // Every datagram was either dropped and counted, or fed a session it opened.
      expect(s.cryptDropped + s.stray + s.refused).toBeGreaterThan(0);
      const client = new KcptunClient('127.0.0.1', server.address().port, cfg('client', crypt));
      cleanups.push(() => client.close());
      await roundTrip(client);
    });
  }

  it('aes: garbage from the address of a live session does not disturb it', {
    timeout: 30_000,
  }, async () => {
    const server = await echoServer('aes');
    const ep = server.endpoint;
    const client = new KcptunClient('127.0.0.1', server.address().port, cfg('client', 'aes'));
    cleanups.push(() => client.close());
    await roundTrip(client);
    const peer = [...((ep as unknown as { sessionCount: number } & object) ? [] : [])];
    expect(peer).toEqual([]);
    expect(ep.sessionCount).toBe(1);
    // The client's port: the only session's peer.
    const before = ep.stats.cryptDropped;
    const clientPort = await new Promise<number>((resolve) => {
      server.once('connection', (s) => resolve(s.remotePort ?? 0));
      void client.openStream().then((st) => st.destroy());
    });
    fc.assert(
      fc.property(fc.array(datagram, { maxLength: 50 }), (grams) => {
        for (const g of grams)
          ep.receive(Buffer.from(g), { address: '127.0.0.1', port: clientPort });
      }),
      { numRuns: 100 },
    );
    expect(ep.stats.cryptDropped).toBeGreaterThan(before);
    expect(ep.sessionCount).toBe(1);
    await roundTrip(client);
  });
});
