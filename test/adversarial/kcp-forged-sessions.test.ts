import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAddress } from '../../src/fd/address.js';
import { createDefaultRegistry } from '../../transports/default-registry.js';
import { CMD_PUSH, encodeSegment } from '../../transports/kcp/arq/index.js';
import { NonceSource } from '../../transports/kcp/crypto.js';
import { type KcpServerFD, kcpSessionTransport } from '../../transports/kcp/index.js';
import { MuxSession } from '../../transports/mux/index.js';
import { expectNoLeakedSockets, snapshotSockets } from '../helpers/handles.js';
import { hashUntilEnd, writeRandom } from '../helpers/net.js';

// Issue 10, finding 7: forged KCP session starts (spoofable: UDP, no handshake) must not
// fill a listener's session table. 2,000 forged starts from 1,000 source ports of 127.0.0.1
// against a listener with room for 64 sessions; a legitimate client must still connect and
// move data at once, and the table must hold only the legitimate session.

const registry = createDefaultRegistry();
const PORTS = 1000;
const PER_PORT = 2;
const BATCH = 100;
let baseline: string[];

beforeAll(() => {
  baseline = snapshotSockets();
});
afterAll(async () => {
  await expectNoLeakedSockets(baseline, 8000);
});

/** A kcp-session listener whose sessions run a mux server echoing every stream. */
async function echoListener(query: string): Promise<KcpServerFD> {
  const raw = (await kcpSessionTransport.listen(
    parseAddress(`kcp-session://127.0.0.1:0?max-sessions=64&idle-timeout=15000${query}`),
  )) as KcpServerFD;
  raw.on('connection', (fd) => {
    const session = MuxSession.server(fd);
    session.on('stream', (s) => {
      s.on('error', () => {});
      s.pipe(s);
    });
  });
  return raw;
}

/** What a session start looks like on the wire: PUSH sn 0, una 0, a random conv. */
function forgedStart(): Uint8Array {
  const conv = randomBytes(4).readUInt32LE(0) || 1;
  return encodeSegment(
    { conv, cmd: CMD_PUSH, frg: 0, wnd: 1024, ts: 0, sn: 0, una: 0 },
    randomBytes(32),
  );
}

async function rawSockets(n: number): Promise<Socket[]> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const s = createSocket('udp4');
      s.on('error', () => {});
      s.bind(0, '127.0.0.1');
      await once(s, 'listening');
      return s;
    }),
  );
}

/**
 * Sends `make()` PER_PORT times from each of PORTS source ports, BATCH sockets at a time,
 * waiting after each batch until the listener has read it (`counted`, its datagramsIn):
 * 200 datagrams at once are about a default receive buffer, and a CI machine running other
 * suites once let the kernel drop most of a flood that was not paced this way.
 */
async function flood(
  port: number,
  make: (i: number) => Uint8Array,
  counted: () => number,
): Promise<void> {
  const start = counted();
  let sent = 0;
  for (let b = 0; b < PORTS / BATCH; b++) {
    const sockets = await rawSockets(BATCH);
    await Promise.all(
      sockets.flatMap((s) =>
        Array.from(
          { length: PER_PORT },
          () =>
            new Promise<void>((resolve) =>
              s.send(make(sent++), port, '127.0.0.1', () => resolve()),
            ),
        ),
      ),
    );
    const deadline = performance.now() + 5000;
    while (counted() - start < sent && performance.now() < deadline)
      await new Promise((r) => setTimeout(r, 5));
    await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

async function legitTransfer(port: number, query: string): Promise<void> {
  const fd = await registry.connect(
    `kcp://127.0.0.1:${port}?handshake-timeout=3000&session-idle=50${query}`,
  );
  const [sent, received] = await Promise.all([writeRandom(fd, 1024 * 1024), hashUntilEnd(fd)]);
  expect(received.bytes).toBe(1024 * 1024);
  expect(received.sha256).toBe(sent);
}

describe('KCP listener under forged session starts', () => {
  it('without a key: the table stays empty, a legitimate client connects at once', async () => {
    const server = await echoListener('');
    const endpoint = server.endpoint;
    try {
      const port = server.address().port;
      await flood(
        port,
        () => forgedStart(),
        () => endpoint.stats.datagramsIn,
      );
      expect(endpoint.stats.datagramsIn).toBe(PORTS * PER_PORT);
      expect(endpoint.sessionCount).toBe(0);
      expect(endpoint.stats.refused).toBe(0);

      await legitTransfer(port, '');
      expect(endpoint.sessionCount).toBe(1);
    } finally {
      await endpoint.abort();
    }
  }, 30_000);

  it('with a key: forged starts never authenticate, a replayed genuine start opens nothing', async () => {
    const server = await echoListener('&key=flood%20test');
    const endpoint = server.endpoint;
    const cipher = endpoint.cipher;
    if (cipher === null) throw new Error('listener is not encrypted');
    try {
      const port = server.address().port;
      await flood(
        port,
        () => forgedStart(),
        () => endpoint.stats.datagramsIn,
      );
      expect(endpoint.sessionCount).toBe(0);
      expect(cipher.stats.dropForged).toBe(PORTS * PER_PORT);

      // A genuine session start (sealed under the key), sent once and then replayed from a
      // thousand other source ports: the listener remembers its salt and opens one session.
      const genuine = cipher.seal(forgedStart(), 24 + 32, new NonceSource());
      const first = (await rawSockets(1))[0] as Socket;
      first.send(genuine, port, '127.0.0.1');
      for (let i = 0; i < 200 && endpoint.sessionCount === 0; i++)
        await new Promise((r) => setTimeout(r, 10));
      expect(endpoint.sessionCount).toBe(1);
      const replayedBefore = cipher.stats.dropReplayed;
      await flood(
        port,
        () => genuine,
        () => endpoint.stats.datagramsIn,
      );
      expect(endpoint.sessionCount).toBe(1);
      expect(cipher.stats.dropReplayed - replayedBefore).toBe(PORTS * PER_PORT);
      first.close();

      await legitTransfer(port, '&key=flood%20test');
      expect(endpoint.sessionCount).toBe(2);
    } finally {
      await endpoint.abort();
    }
  }, 30_000);
});
