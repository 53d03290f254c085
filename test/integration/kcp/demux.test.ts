import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CMD_ACK, CMD_PUSH, encodeSegment } from '../../../transports/kcp/arq/index.js';
import { KcpEndpoint, type KcpSession } from '../../../transports/kcp/index.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';

// The listener's demultiplexing by (remote address, conv), fed hand-built datagrams from
// raw UDP sockets on loopback.

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
    one.send(push(7, 0, 'one/7'), port, '127.0.0.1');
    one.send(push(8, 0, 'one/8'), port, '127.0.0.1');
    two.send(push(7, 0, 'two/7'), port, '127.0.0.1');
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
    two.send(push(11, 0, 'too many'), port, '127.0.0.1');
    await settle();
    expect(accepted).toHaveLength(3);
    expect(endpoint.stats.stray).toBe(2);
    expect(endpoint.stats.refused).toBe(1);
    // Each got a CLOSE back, as a TCP stack answers with RST.
    expect(endpoint.stats.closeReplies).toBe(3);

    await endpoint.abort();
    expect(endpoint.sessionCount).toBe(0);
    one.close();
    two.close();
  });
});
