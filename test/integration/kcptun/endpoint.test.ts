import { afterEach, describe, expect, it } from 'vitest';
import { CMD_PUSH, OVERHEAD, writeHeader } from '../../../transports/kcp/arq/wire.js';
import { defaultConfig, KcptunServer } from '../../../transports/kcptun/index.js';
import type { SmuxStream } from '../../../transports/kcptun/smux-stream.js';
import { until } from '../../helpers/wait.js';

// kcp-go's listener rules on our endpoint, fed datagrams directly (crypt null-raw, no FEC:
// the datagram is the KCP packet): sessions keyed by the client's address, a new conv with
// sn 0 from that address replaces the session, anything else with another conv is stray.

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function push(conv: number, sn: number, data: Buffer): Buffer {
  const b = Buffer.alloc(OVERHEAD + data.length);
  writeHeader(b, 0, conv, CMD_PUSH, 0, 512, 0, sn, 0, data.length);
  data.copy(b, OVERHEAD);
  return b;
}

/** smux v1 SYN for stream 3 (what a kcptun client sends first), uncompressed. */
const SYN = Buffer.from([1, 0, 0, 0, 3, 0, 0, 0]);

describe('kcptun endpoint: sessions keyed by address', () => {
  it('a new conv with sn 0 from the same address replaces the session', async () => {
    const server = await KcptunServer.listen('127.0.0.1', 0, {
      ...defaultConfig('server'),
      crypt: 'null-raw',
      nocomp: true,
      datashard: 0,
      parityshard: 0,
    });
    cleanups.push(() => server.abort());
    const streams: SmuxStream[] = [];
    server.on('connection', (s) => {
      s.on('error', () => {});
      streams.push(s as SmuxStream);
    });
    const ep = server.endpoint;
    const from = { address: '127.0.0.1', port: 9 };
    ep.receive(push(0x1111, 0, SYN), from);
    // The stream comes out asynchronously (the session's stream events): wait for it, not
    // for a fixed time a stalled process can outlast, then check the counts exactly.
    await until('the first stream', () => streams.length >= 1, 10_000);
    expect(ep.sessionCount).toBe(1);
    expect(streams).toHaveLength(1);
    // Same address, other conv, not a start: stray, the session stays.
    ep.receive(push(0x2222, 5, SYN), from);
    expect(ep.stats.stray).toBe(1);
    expect(ep.stats.replaced).toBe(0);
    // Same address, other conv, sn 0: the old session goes, the new one takes the address.
    ep.receive(push(0x2222, 0, SYN), from);
    await until(
      'the second stream',
      () => streams.length >= 2 && streams[0]?.destroyed === true,
      10_000,
    );
    expect(ep.stats.replaced).toBe(1);
    expect(ep.sessionCount).toBe(1);
    expect(streams).toHaveLength(2);
    expect(streams[0]?.destroyed).toBe(true);
    expect(streams[1]?.destroyed).toBe(false);
    // Another address is another session.
    ep.receive(push(0x1111, 0, SYN), { address: '127.0.0.1', port: 10 });
    expect(ep.sessionCount).toBe(2);
  });
});
