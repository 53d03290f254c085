import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { type Socks5Harness, startSocks5Harness } from './socks5-harness.js';

// UDP ASSOCIATE end to end: a hand-written client (net + dgram, raw bytes)
// through our handshake and relay to a real UDP echo server on loopback.

const registry = createDefaultRegistry();
let baseline: string[];

beforeAll(() => {
  baseline = snapshotSockets();
});

afterAll(async () => {
  await expectNoLeakedSockets(baseline);
});

interface Family {
  readonly name: string;
  readonly loopback: string;
  readonly type: 'udp4' | 'udp6';
  readonly atyp: string;
  readonly addrHex: string;
}

const families: Family[] = [
  { name: 'IPv4', loopback: '127.0.0.1', type: 'udp4', atyp: '01', addrHex: '7f000001' },
  { name: 'IPv6', loopback: '::1', type: 'udp6', atyp: '04', addrHex: `${'00'.repeat(15)}01` },
];

async function udpEcho(family: Family): Promise<UdpSocket> {
  const sock = createSocket(family.type);
  sock.on('message', (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
  sock.bind(0, family.loopback);
  await once(sock, 'listening');
  return sock;
}

const port16 = (p: number) => p.toString(16).padStart(4, '0');
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Read exactly `n` bytes from a socket (which stays paused-free for later). */
async function readExactly(socket: Socket, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let have = 0;
  while (have < n) {
    const chunk: Buffer | null = socket.read();
    if (chunk === null) {
      await once(socket, 'readable');
      continue;
    }
    parts.push(chunk);
    have += chunk.length;
  }
  const all = Buffer.concat(parts);
  if (all.length > n) socket.unshift(all.subarray(n));
  return all.subarray(0, n);
}

function nextMessage(sock: UdpSocket, ms: number): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      sock.off('message', onMessage);
      resolve(null);
    }, ms);
    const onMessage = (msg: Buffer) => {
      clearTimeout(timer);
      resolve(msg);
    };
    sock.once('message', onMessage);
  });
}

describe.each(families)('socks5 UDP ASSOCIATE over $name', (family) => {
  let harness: Socks5Harness;
  let echo: UdpSocket;
  let echoPort: number;

  beforeAll(async () => {
    echo = await udpEcho(family);
    echoPort = echo.address().port;
    const host = family.type === 'udp6' ? '[::1]' : '127.0.0.1';
    harness = await startSocks5Harness(registry, `tcp://${host}:0`, {
      commands: ['connect', 'udp-associate'],
      udpBind: `udp://${host}:0`,
    });
  });

  afterAll(async () => {
    await harness.close();
    await new Promise<void>((r) => echo.close(() => r()));
  });

  /** TCP control + our client UDP socket, associated; `hintPort` 0 means "don't know yet". */
  async function associate(client: UdpSocket, hintPort: number) {
    const control = connect({ host: family.loopback, port: harness.port });
    await once(control, 'connect');
    control.write(hex('050100'));
    expect(await readExactly(control, 2)).toEqual(hex('0500'));
    const hintAddr = hintPort === 0 ? '00'.repeat(family.atyp === '01' ? 4 : 16) : family.addrHex;
    control.write(hex(`05 03 00 ${family.atyp} ${hintAddr} ${port16(hintPort)}`));
    const replyLen = family.atyp === '01' ? 10 : 22;
    const reply = await readExactly(control, replyLen);
    expect(reply.subarray(0, 4)).toEqual(hex(`05 00 00 ${family.atyp}`));
    expect(reply.subarray(4, replyLen - 2).toString('hex')).toBe(family.addrHex);
    const relayPort = reply.readUInt16BE(replyLen - 2);
    return { control, relayPort, client };
  }

  const header = (atyp: string, addr: string, port: number, frag = '00') =>
    hex(`0000 ${frag} ${atyp} ${addr} ${port16(port)}`);

  it.each([false, true])(
    'round trips 64 datagrams byte-exact (client port announced = %s)',
    async (announce) => {
      const client = createSocket(family.type);
      client.bind(0, family.loopback);
      await once(client, 'listening');
      const { control, relayPort } = await associate(client, announce ? client.address().port : 0);
      const sent = createHash('sha256');
      const got = createHash('sha256');
      const expectedHeader = header(family.atyp, family.addrHex, echoPort);
      for (let i = 0; i < 64; i++) {
        const payload = randomBytes(1 + ((i * 97) % 1400));
        sent.update(payload);
        const reply = nextMessage(client, 2_000);
        client.send(Buffer.concat([expectedHeader, payload]), relayPort, family.loopback);
        const msg = await reply;
        expect(msg).not.toBeNull();
        const m = msg as Buffer;
        // The answer is wrapped in a header naming the echo server as its source.
        expect(m.subarray(0, expectedHeader.length)).toEqual(expectedHeader);
        got.update(m.subarray(expectedHeader.length));
      }
      expect(got.digest('hex')).toBe(sent.digest('hex'));
      const relay = harness.relays[harness.relays.length - 1];
      expect(relay?.stats).toMatchObject({ forwarded: 64, returned: 64, dropped: 0 });
      // Closing the control connection ends the association.
      const relayClosed = once(relay as NonNullable<typeof relay>, 'close');
      control.end();
      await relayClosed;
      control.destroy();
      await new Promise<void>((r) => client.close(() => r()));
    },
  );

  it('domain targets, fragments, strangers and garbage', async () => {
    const client = createSocket(family.type);
    client.bind(0, family.loopback);
    await once(client, 'listening');
    const { control, relayPort } = await associate(client, client.address().port);
    const relay = harness.relays[harness.relays.length - 1] as NonNullable<
      Socks5Harness['relays'][0]
    >;

    if (family.type === 'udp4') {
      // "localhost" resolves to 127.0.0.1 here; the answer names the resolved address.
      const reply = nextMessage(client, 2_000);
      client.send(
        Buffer.concat([
          hex(`0000 00 03 09 ${Buffer.from('localhost').toString('hex')} ${port16(echoPort)}`),
          Buffer.from('by name'),
        ]),
        relayPort,
        family.loopback,
      );
      const msg = (await reply) as Buffer;
      expect(msg.subarray(0, 10)).toEqual(header('01', '7f000001', echoPort));
      expect(msg.subarray(10).toString()).toBe('by name');
    }

    const droppedBefore = relay.stats.dropped;
    // FRAG ≠ 0: dropped.
    const none1 = nextMessage(client, 200);
    client.send(
      Buffer.concat([header(family.atyp, family.addrHex, echoPort, '01'), Buffer.from('frag')]),
      relayPort,
      family.loopback,
    );
    expect(await none1).toBeNull();
    // Not even a header: dropped.
    const none2 = nextMessage(client, 200);
    client.send(hex('ffff'), relayPort, family.loopback);
    expect(await none2).toBeNull();
    // A stranger (another port) is not the associated client: dropped, nothing reaches the echo.
    const stranger = createSocket(family.type);
    stranger.bind(0, family.loopback);
    await once(stranger, 'listening');
    const none3 = nextMessage(stranger, 200);
    stranger.send(
      Buffer.concat([header(family.atyp, family.addrHex, echoPort), Buffer.from('x')]),
      relayPort,
      family.loopback,
    );
    expect(await none3).toBeNull();
    await new Promise<void>((r) => stranger.close(() => r()));
    expect(relay.stats.dropped - droppedBefore).toBe(3);

    // The association still works afterwards.
    const ok = nextMessage(client, 2_000);
    client.send(
      Buffer.concat([header(family.atyp, family.addrHex, echoPort), Buffer.from('still here')]),
      relayPort,
      family.loopback,
    );
    expect(((await ok) as Buffer).subarray(family.atyp === '01' ? 10 : 22).toString()).toBe(
      'still here',
    );

    // The client's TCP reset ends the association too.
    const relayClosed = once(relay, 'close');
    control.resetAndDestroy();
    await relayClosed;
    // The relay socket is gone: a datagram to it now goes nowhere.
    const none4 = nextMessage(client, 200);
    client.send(
      Buffer.concat([header(family.atyp, family.addrHex, echoPort), Buffer.from('late')]),
      relayPort,
      family.loopback,
    );
    expect(await none4).toBeNull();
    await new Promise<void>((r) => client.close(() => r()));
  });
});
