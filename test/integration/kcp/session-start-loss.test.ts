import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { checkNoLeakedSocketsAfterAll } from '../../helpers/handles.js';
import { LossyRelay } from './lossy-relay.js';

// A session's first datagrams lost on the way (its start and retransmissions of it):
// the session must still open and carry data, keyed, keyed with FEC and keyless
// (cookie). Suspected in review: a listener answering a later datagram of a session
// whose start it has not seen with CLOSE; this drives that path as far as kcp://
// lets a client reach it.

const registry = createDefaultRegistry();
// The sockets of these sessions go away up to ~6 s after the last test (measured: 13 UDP
// sockets, one by one, the last at 5.5-6.5 s; the relay closes before their CLOSE gets
// through): 8 s of wait left 2 s for a loaded machine, and a loaded run went past it.
checkNoLeakedSocketsAfterAll(20_000);

async function echoWithFirstDatagramsLost(query: string, lost: number): Promise<void> {
  const server = await registry.listen(`kcp://127.0.0.1:0${query}`);
  server.on('connection', (fd) => {
    fd.on('error', () => {});
    fd.pipe(fd);
  });
  const relay = await LossyRelay.start(server.address().port, 0);
  relay.dropFromClients = lost;
  let client: StreamFD | undefined;
  try {
    client = await registry.connect(`kcp://127.0.0.1:${relay.port}${query}`);
    const plain = randomBytes(256 * 1024);
    const got = createHash('sha256');
    let n = 0;
    const done = new Promise<void>((resolve, reject) => {
      client?.on('data', (c: Buffer) => {
        got.update(c);
        n += c.length;
        if (n >= plain.length) resolve();
      });
      client?.once('error', reject);
      client?.once('close', () => reject(new Error(`closed after ${n} bytes`)));
    });
    client.write(plain);
    await done;
    expect(got.digest('hex')).toBe(createHash('sha256').update(plain).digest('hex'));
    expect(relay.dropped).toBe(lost);
  } finally {
    client?.destroy();
    await relay.close();
    await server.close();
  }
}

describe('kcp:// session whose first datagrams are lost', () => {
  for (const [name, query] of [
    ['keyed', '?key=start-loss'],
    ['keyed, fec=10/3', '?key=start-loss&fec=10/3'],
    ['keyless (cookie)', ''],
  ] as const) {
    it(`${name}: a session whose first datagrams are lost still opens and echoes 256 KiB`, async () => {
      await echoWithFirstDatagramsLost(query, 1);
      await echoWithFirstDatagramsLost(query, 3);
    }, 30_000);
  }
});
