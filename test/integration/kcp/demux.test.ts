import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CMD_ACK, CMD_PUSH, encodeSegment } from '../../../transports/kcp/arq/index.js';
import { KcpEndpoint, type KcpSession } from '../../../transports/kcp/index.js';
import { CMD_ECHO, CMD_RETRY } from '../../../transports/kcp/session/cookie.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';

// The listener's demultiplexing by (remote address, conv), fed hand-built datagrams from
// raw UDP sockets on loopback. The listener has no key, so each session start goes through
// the cookie round trip (start → RETRY → start behind an ECHO prefix), as a kcp client does.

let baseline: string[];
beforeAll(() => {
  baseline = snapshotSockets();
});
afterAll(async () => {
  await expectNoLeakedSockets(baseline);
});

const sessionConfig = { kcp: { preset: 'fast3' as const }, idleTimeoutMs: 0, closeTimeoutMs: 100 };

function push(conv: number, sn: number, text: string): Uint8Array {
  return encodeSegment(
    { conv, cmd: CMD_PUSH, frg: 0, wnd: 128, ts: 0, sn, una: 0 },
    Buffer.from(text),
  );
}

async function rawSocket(): Promise<Socket> {
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

/** The next RETRY for `conv` that arrives at `s`. */
function nextRetry(s: Socket, conv: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const onMessage = (msg: Buffer): void => {
      if (msg[4] !== CMD_RETRY || msg.readUInt32LE(0) !== conv) return;
      s.off('message', onMessage);
      resolve(msg);
    };
    s.on('message', onMessage);
  });
}

/** Starts a session the way a keyless kcp client does: start, RETRY, ECHO + start. */
async function start(s: Socket, port: number, segment: Uint8Array): Promise<void> {
  const conv = Buffer.from(segment).readUInt32LE(0);
  const retry = nextRetry(s, conv);
  s.send(segment, port, '127.0.0.1');
  const cookie = await retry;
  // Never larger than what asked for it: no amplification.
  expect(cookie.length).toBeLessThanOrEqual(segment.length);
  const echo = Buffer.concat([cookie, segment]);
  echo[4] = CMD_ECHO;
  s.send(echo, port, '127.0.0.1');
}

async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 50));
}

describe('KcpEndpoint demultiplexing', () => {
  it('keys sessions by (address, conv), refuses strays and sessions over the limit', async () => {
    const accepted: KcpSession[] = [];
    const endpoint = await KcpEndpoint.listen(
      '127.0.0.1',
      0,
      { session: sessionConfig, cipher: null, maxSessions: 3, rcvbuf: 0, sndbuf: 0 },
      (s) => accepted.push(s),
    );
    const port = endpoint.address().port;
    const one = await rawSocket();
    const two = await rawSocket();
    await start(one, port, push(7, 0, 'one/7'));
    await start(one, port, push(8, 0, 'one/8'));
    await start(two, port, push(7, 0, 'two/7'));
    await settle();
    expect(accepted).toHaveLength(3);
    expect(accepted.map((s) => `${s.peer.port}/${s.conv}`).sort()).toEqual(
      [`${one.address().port}/7`, `${one.address().port}/8`, `${two.address().port}/7`].sort(),
    );

    // A follow-up datagram goes to its own session, not a new one.
    one.send(push(7, 1, '+more'), port, '127.0.0.1');
    await settle();
    expect(accepted).toHaveLength(3);
    const oneSeven = accepted.find((s) => s.peer.port === one.address().port && s.conv === 7);
    const buf = Buffer.alloc(64);
    const n = oneSeven?.kcp.recv(buf) ?? -1;
    expect(buf.subarray(0, n).toString()).toBe('one/7+more');

    // Not the start of a session (sn 5, or an ACK): stray. Over the limit: refused.
    one.send(push(9, 5, 'late'), port, '127.0.0.1');
    one.send(
      encodeSegment({ conv: 10, cmd: CMD_ACK, frg: 0, wnd: 128, ts: 0, sn: 0, una: 0 }),
      port,
      '127.0.0.1',
    );
    await start(two, port, push(11, 0, 'too many'));
    await settle();
    expect(accepted).toHaveLength(3);
    expect(endpoint.stats.stray).toBe(2);
    expect(endpoint.stats.refused).toBe(1);
    expect(endpoint.stats.retriesSent).toBe(4);
    expect(endpoint.stats.cookiesAccepted).toBe(4);
    // Each got a CLOSE back, as a TCP stack answers with RST.
    expect(endpoint.stats.closeReplies).toBe(3);

    await endpoint.abort();
    expect(endpoint.sessionCount).toBe(0);
    one.close();
    two.close();
  });
});
