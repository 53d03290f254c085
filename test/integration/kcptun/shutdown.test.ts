import { afterEach, describe, expect, it } from 'vitest';
import { KcpEndpoint } from '../../../transports/kcp/session/endpoint.js';
import { KcpStream } from '../../../transports/kcp/session/kcp-stream.js';
import {
  KcpScheduler,
  realClock,
  type SchedulerClock,
  sharedScheduler,
} from '../../../transports/kcp/session/scheduler.js';
import type { KcpSession } from '../../../transports/kcp/session/session.js';
import { defaultConfig, KcptunClient, KcptunServer } from '../../../transports/kcptun/index.js';
import type { SmuxStream } from '../../../transports/kcptun/smux-stream.js';
import { checkNoLeakedSocketsAfterAll } from '../../helpers/handles.js';

// Shutdown of an endpoint with live sessions (`websocks-server --kcp` was once seen spinning
// after SIGTERM): every session ends, the socket closes, the scheduler is left empty, and the
// way there takes a bounded number of scheduler wake-ups, not a loop re-arming at zero delay.
// Ticks are counted, never timed.

checkNoLeakedSocketsAfterAll();

/** The real clock, counting every timer and check-phase run the scheduler asks for. */
class CountingClock implements SchedulerClock {
  wakeups = 0;
  now(): number {
    return realClock.now();
  }
  setTimer(fn: () => void, ms: number): unknown {
    return realClock.setTimer(() => {
      this.wakeups++;
      fn();
    }, ms);
  }
  clearTimer(handle: unknown): void {
    realClock.clearTimer(handle);
  }
  immediate(fn: () => void): void {
    realClock.immediate(() => {
      this.wakeups++;
      fn();
    });
  }
}

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Our kcptun server and client (crypt none, fast3, `conn` connections); streams accepted. */
async function kcptunPair(conn: number): Promise<{
  server: KcptunServer;
  client: KcptunClient;
  accepted: SmuxStream[];
}> {
  const config = { crypt: 'none', mode: 'fast3' as const, nocomp: true, conn };
  const server = await KcptunServer.listen('127.0.0.1', 0, {
    ...defaultConfig('server'),
    ...config,
  });
  cleanups.push(() => server.abort());
  const client = new KcptunClient('127.0.0.1', server.address().port, {
    ...defaultConfig('client'),
    ...config,
  });
  cleanups.push(() => client.close());
  const accepted: SmuxStream[] = [];
  server.on('connection', (s) => {
    s.on('error', () => {});
    // KcptunServer's connections are smux streams.
    accepted.push(s as SmuxStream);
  });
  return { server, client, accepted };
}

const SESSION = {
  kcp: { preset: 'fast4' as const, stream: true },
  idleTimeoutMs: 0,
  closeTimeoutMs: 300,
};

/** A kcp:// listener and a client on their own schedulers, one echoing session up. */
async function kcpPair(): Promise<{
  server: KcpEndpoint;
  serverClock: CountingClock;
  serverScheduler: KcpScheduler;
  client: KcpEndpoint;
  accepted: KcpStream[];
}> {
  const serverClock = new CountingClock();
  const serverScheduler = new KcpScheduler(serverClock);
  const accepted: KcpStream[] = [];
  const common = { session: SESSION, cipher: null, maxSessions: 8, rcvbuf: 0, sndbuf: 0 };
  const server = await KcpEndpoint.listen(
    '127.0.0.1',
    0,
    { ...common, scheduler: serverScheduler },
    (session: KcpSession) => {
      const fd = new KcpStream(session, server.address());
      fd.on('error', () => {});
      fd.pipe(fd);
      accepted.push(fd);
    },
  );
  cleanups.push(() => server.abort());
  const client = await KcpEndpoint.connect('127.0.0.1', server.address().port, {
    ...common,
    scheduler: new KcpScheduler(),
  });
  cleanups.push(() => client.abort());
  const session = client.openSession(server.address(), 0x5151);
  const fd = new KcpStream(session, client.address());
  fd.on('error', () => {});
  let echoed = 0;
  fd.on('data', (d: Buffer) => {
    echoed += d.length;
  });
  fd.write(Buffer.alloc(64 * 1024, 7));
  await until('the echo', () => echoed === 64 * 1024);
  return { server, serverClock, serverScheduler, client, accepted };
}

describe('an endpoint shut down with live sessions', () => {
  it('kcp://, peer vanished: close() and the stream ending release every timer in bounded ticks', async () => {
    const { server, serverClock, serverScheduler, client, accepted } = await kcpPair();
    await client.abort(); // the socket first: the peer goes without a CLOSE
    const before = serverClock.wakeups;
    const closed = server.close();
    // What a server's shutdown does to its streams: end them, here with data in flight that
    // nobody acknowledges (the clean close flushes until closeTimeoutMs).
    for (const fd of accepted) fd.end(Buffer.alloc(32 * 1024, 1));
    await closed;
    await until('the last session to go', () => server.sessionCount === 0);
    expect(serverScheduler.size).toBe(0);
    // 300 ms of closing at a 10 ms interval is ~30 ticks and a few retransmissions; a loop
    // re-arming at zero delay would be thousands.
    expect(serverClock.wakeups - before).toBeLessThan(200);
    const settled = serverClock.wakeups;
    await new Promise((r) => setTimeout(r, 100));
    expect(serverClock.wakeups).toBe(settled);
  });

  it('kcp://: abort() drops every session at once, nothing scheduled after', async () => {
    const { server, serverClock, serverScheduler } = await kcpPair();
    await server.abort();
    expect(server.sessionCount).toBe(0);
    expect(serverScheduler.size).toBe(0);
    const settled = serverClock.wakeups;
    await new Promise((r) => setTimeout(r, 100));
    expect(serverClock.wakeups - settled).toBeLessThanOrEqual(1); // a check phase already asked for
  });

  it('kcptun: a client and a server closed with a live smux stream leave the scheduler empty', async () => {
    const { server, client, accepted } = await kcptunPair(1);
    const s = await client.openStream();
    s.on('error', () => {});
    s.write('hello');
    await until('the stream', () => accepted.length === 1);
    expect(sharedScheduler().size).toBe(2);
    client.close();
    await server.abort();
    expect(server.endpoint.sessionCount).toBe(0);
    await until('both sessions to leave the scheduler', () => sharedScheduler().size === 0);
  });

  it('kcptun server close(): sessions end with their last stream, then the socket closes', async () => {
    // The client stays up and silent: before, an idle session lived on its keepalives.
    const { server, client, accepted } = await kcptunPair(2);
    // conn=2: one session whose stream has ended, one with a stream still open.
    const done = await client.openStream();
    const open = await client.openStream();
    for (const s of [done, open]) {
      s.on('error', () => {});
      s.write('hello');
    }
    await until('both streams', () => accepted.length === 2);
    expect(server.endpoint.sessionCount).toBe(2);
    (accepted[0] as SmuxStream).destroy();
    void server.close();
    await until('the idle session to end', () => server.endpoint.sessionCount === 1);
    // A stream opened after close() is refused, on the session that is still up.
    let late = 0;
    server.on('connection', () => late++);
    const refused = await client.openStream();
    refused.on('error', () => {});
    refused.write('x');
    await until('the refused stream to end', () => refused.destroyed || refused.readableEnded);
    expect(server.endpoint.sessionCount).toBe(1);
    (accepted[1] as SmuxStream).destroy();
    await until('the last session to end', () => server.endpoint.sessionCount === 0);
    expect(late).toBe(0);
  });
});
