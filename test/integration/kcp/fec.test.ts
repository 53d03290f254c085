import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseAddress } from '../../../src/fd/address.js';
import { isVproxyError } from '../../../src/fd/errors.js';
import { createLogger } from '../../../src/fd/logger.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import {
  type KcpServerFD,
  type KcpSession,
  type KcpStream,
  kcpSessionTransportWith,
} from '../../../transports/kcp/index.js';
import { CMD_FEC_DATA, CMD_FEC_PARITY } from '../../../transports/kcp/session/fec.js';
import { MuxSession } from '../../../transports/mux/index.js';
import { fcParams } from '../../helpers/fc.js';
import { checkNoLeakedSocketsAfterAll } from '../../helpers/handles.js';
import { hashUntilEnd, writeRandom } from '../../helpers/net.js';
import { LossyRelay } from './lossy-relay.js';

// kcp:// with fec= over real UDP on loopback: echo round trips with FEC on and off through a
// relay dropping datagrams at random both ways, sha256-checked; FEC rebuilding what the relay
// dropped; and ends whose fec= differ refusing each other clearly (an error naming the
// cause, a counter and a log line) instead of hanging.

const MB = 1024 * 1024;
const registry = createDefaultRegistry();
checkNoLeakedSocketsAfterAll(8000);

interface Listener {
  readonly server: KcpServerFD;
  readonly sessions: KcpSession[];
  readonly log: string[];
}

/** A kcp:// echo listener (mux over kcp-session, as `kcp://` listens) with a captured log. */
async function echoListener(query: string): Promise<Listener> {
  const log: string[] = [];
  const logger = createLogger({ threshold: 'warn', write: (line) => log.push(line) });
  const server = (await kcpSessionTransportWith(logger).listen(
    parseAddress(`kcp-session://127.0.0.1:0${query}`),
  )) as KcpServerFD;
  const sessions: KcpSession[] = [];
  server.on('connection', (stream) => {
    const fd = stream as KcpStream;
    sessions.push(fd.session);
    fd.on('error', () => {});
    const mux = MuxSession.server(fd);
    mux.on('stream', (s) => {
      s.on('error', () => {});
      s.pipe(s);
    });
  });
  return { server, sessions, log };
}

/** The mux layer wraps the inner stream's error: look down the cause chain. */
function causedBy(err: unknown, code: 'ERR_KCP_FEC_MISMATCH'): boolean {
  for (let e = err; e !== undefined && e !== null; e = (e as Error).cause) {
    if (isVproxyError(e, code)) return true;
  }
  return false;
}

describe('kcp:// fec= round trips through a lossy relay', () => {
  it.each([
    { name: 'fec off, 5 % loss', query: '?mode=fast3', loss: 0.05, mb: 8 },
    { name: 'fec=10/3, no loss', query: '?mode=fast3&fec=10/3', loss: 0, mb: 8 },
    { name: 'fec=10/3, 5 % loss', query: '?mode=fast3&fec=10/3', loss: 0.05, mb: 8 },
    {
      name: 'fec=10/3 + pacing + aes-128-gcm, 5 % loss',
      query: '?mode=fast3&kcp.fec=10/3&congestion=pacing&key=s3cret',
      loss: 0.05,
      mb: 4,
    },
    {
      name: 'fec=5/2 + secretbox, mtu 4000 (shards above kcp-go’s 1500), 2 % loss',
      query: '?mode=fast3&fec=5/2&key=s3cret&crypt=secretbox&mtu=4000',
      loss: 0.02,
      mb: 4,
    },
  ])(
    '$name: $mb MB echoed byte-exact',
    async ({ query, loss, mb }) => {
      const listener = await echoListener(query);
      const relay = await LossyRelay.start(listener.server.address().port, loss);
      try {
        const client = await registry.connect(
          `kcp://127.0.0.1:${relay.port}${query}&session-idle=50`,
        );
        const [sent, received] = await Promise.all([
          writeRandom(client, mb * MB),
          hashUntilEnd(client),
        ]);
        expect(received.bytes).toBe(mb * MB);
        expect(received.sha256).toBe(sent);
        client.destroy();
        const ep = listener.server.endpoint;
        expect(ep.stats.fecMismatch).toBe(0);
        const session = listener.sessions[0] as KcpSession;
        if (query.includes('fec=')) {
          const stats = (session.fec ?? { stats: null }).stats;
          expect(stats).not.toBeNull();
          if (stats === null) return;
          expect(stats.dataShards).toBeGreaterThan(1000);
          expect(stats.parityShards).toBeGreaterThan(100);
          expect(stats.badPrefix + stats.malformed + stats.misplaced + stats.badRecovered).toBe(0);
          // The relay drops data shards: FEC rebuilds most of them before KCP resends them.
          if (loss > 0) expect(stats.recovered).toBeGreaterThan(relay.dropped / 10);
          console.log(
            `kcp ${query}: relay dropped ${relay.dropped} of ${relay.dropped + relay.forwarded}; listener FEC rebuilt ${stats.recovered}, lost groups ${stats.lostGroups}; retransmits ${session.kcp.stats.retransmitFast} fast + ${session.kcp.stats.retransmitTimeout} timeout`,
          );
        } else {
          expect(session.fec).toBeNull();
        }
        if (loss > 0) expect(relay.dropped).toBeGreaterThan(0);
      } finally {
        await relay.close();
        await listener.server.endpoint.abort();
      }
    },
    60_000,
  );
});

describe('kcp:// ends with different fec= refuse each other clearly', () => {
  it.each([
    { listen: '?fec=10/3', dial: '', ours: '10/3', theirs: 'off' },
    { listen: '', dial: '?fec=10/3', ours: 'off', theirs: 'on' },
    { listen: '?fec=10/3&key=k', dial: '?key=k', ours: '10/3', theirs: 'off' },
    { listen: '?key=k', dial: '?fec=5/2&key=k', ours: 'off', theirs: 'on' },
    { listen: '?fec=10/3', dial: '?fec=5/2', ours: '10/3', theirs: 'other-split' },
  ])(
    'listener $listen, client $dial: ERR_KCP_FEC_MISMATCH, counted and logged',
    async ({ listen, dial, ours, theirs }) => {
      const listener = await echoListener(listen);
      try {
        const sep = dial === '' ? '?' : '&';
        const err = await registry
          .connect(
            `kcp://127.0.0.1:${listener.server.address().port}${dial}${sep}handshake-timeout=5000`,
          )
          .then(
            (s) => {
              s.destroy();
              return null;
            },
            (e: unknown) => e,
          );
        expect(causedBy(err, 'ERR_KCP_FEC_MISMATCH')).toBe(true);
        expect(String((err as Error).message)).toMatch(/fec/);
        const ep = listener.server.endpoint;
        expect(ep.stats.fecMismatch).toBeGreaterThan(0);
        expect(ep.sessionCount).toBe(0);
        expect(listener.log.filter((l) => l.includes('kcp-fec-mismatch'))).toHaveLength(1);
        expect(listener.log[0]).toContain(`fec=${ours}`);
        expect(listener.log[0]).toContain(`peerFec=${theirs}`);
      } finally {
        await listener.server.endpoint.abort();
      }
    },
    15_000,
  );
});

describe('kcp:// fec= decode path under garbage', () => {
  /** conv, a command (mostly FEC), kcp-go's header, then noise whose inner conv is not `conv`. */
  const shaped = (conv: number) =>
    fc
      .tuple(
        fc.constantFrom(CMD_FEC_DATA, CMD_FEC_PARITY, CMD_FEC_DATA, 81, 0xfd, 0),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.constantFrom(0xf1, 0xf2, 7, 0xf1 | (163 << 8), 0xf2 | (163 << 8)),
        fc.integer({ min: 0, max: 0xffff }),
        // At least a 24-byte datagram (shorter ones never reach a session), any size up to mtu.
        fc.uint8Array({ minLength: 11, maxLength: 1400, size: 'max' }),
      )
      .map(([cmd, seqid, flag, size, rest]) => {
        const b = Buffer.alloc(13 + rest.length);
        b.writeUInt32LE(conv >>> 0, 0);
        b[4] = cmd;
        b.writeUInt32LE(seqid, 5);
        b.writeUInt16LE(flag, 9);
        b.writeUInt16LE(size, 11);
        b.set(rest, 13);
        // Never the session's own conv inside: garbage must not pass for its KCP segments.
        b.writeUInt32LE((conv ^ 0x5a5a5a5a) >>> 0, 13);
        return b;
      });

  it('garbage from strangers and into a live session is counted and dropped; the session still carries data', async () => {
    const listener = await echoListener('?fec=10/3');
    const ep = listener.server.endpoint;
    const url = `kcp://127.0.0.1:${listener.server.address().port}?fec=10/3&session-idle=50`;
    try {
      const roundTrip = async (bytes: number) => {
        const client = await registry.connect(url);
        const [sent, received] = await Promise.all([
          writeRandom(client, bytes),
          hashUntilEnd(client),
        ]);
        expect(received.sha256).toBe(sent);
        client.destroy();
      };
      // A stream held open keeps the pooled session (and its listener side) alive throughout.
      const hold = await registry.connect(url);
      hold.on('error', () => {});
      await roundTrip(256 * 1024);
      const session = listener.sessions[0] as KcpSession;
      let fed = 0;
      // Strangers: random bytes and FEC-shaped datagrams from many source ports.
      fc.assert(
        fc.property(
          fc.array(fc.oneof(fc.uint8Array({ maxLength: 1400 }).map(Buffer.from), shaped(7)), {
            maxLength: 30,
          }),
          fc.integer({ min: 1, max: 65535 }),
          (grams, port) => {
            for (const g of grams) {
              fed++;
              ep.receive(g, { address: '127.0.0.2', port });
            }
          },
        ),
        fcParams({ numRuns: 100 }),
      );
      expect(ep.sessionCount).toBe(1);
      // The live session's own address and conv: into its FEC decoder.
      fc.assert(
        fc.property(fc.array(shaped(session.conv), { maxLength: 30 }), (grams) => {
          for (const g of grams) {
            fed++;
            ep.receive(g, { address: session.peer.host, port: session.peer.port });
          }
        }),
        fcParams({ numRuns: 100 }),
      );
      expect(ep.stats.datagramsIn).toBeGreaterThanOrEqual(fed);
      const s = session.fec?.stats;
      expect(s).toBeDefined();
      if (s === undefined) return;
      expect(
        s.badPrefix + s.otherShape + s.malformed + s.misplaced + s.stale + s.duplicates,
      ).toBeGreaterThan(0);
      expect(ep.stats.stray + ep.stats.fecMismatch + ep.stats.retriesSent).toBeGreaterThan(0);
      expect(session.rejected).toBeGreaterThan(0);
      // Still the one session, and it still moves data byte-exact.
      await roundTrip(256 * 1024);
      expect(ep.sessionCount).toBe(1);
      expect(listener.sessions).toHaveLength(1);
      hold.destroy();
    } finally {
      await ep.abort();
    }
  }, 30_000);
});
