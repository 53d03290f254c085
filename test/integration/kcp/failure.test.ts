import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAddress } from '../../../src/fd/address.js';
import { isVproxyError } from '../../../src/fd/errors.js';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { type KcpServerFD, kcpSessionTransport } from '../../../transports/kcp/index.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { hashUntilEnd, writeRandom } from '../../helpers/net.js';
import { LossyRelay } from './lossy-relay.js';

// Peers that vanish, and peers with the wrong key, over real UDP on loopback.

const registry = createDefaultRegistry();
let baseline: string[];

beforeAll(() => {
  baseline = snapshotSockets();
});

afterAll(async () => {
  await expectNoLeakedSockets(baseline, 8000);
});

/** The mux layer wraps the inner stream's error: look down the cause chain. */
function causedBy(err: unknown, code: 'ERR_KCP_DEAD_LINK'): boolean {
  for (let e = err; e !== undefined && e !== null; e = (e as Error).cause) {
    if (isVproxyError(e, code)) return true;
  }
  return false;
}

/**
 * The time a fast3 sender (minRto 30, nodelay: each timeout adds rto/2) needs to
 * transmit one segment `deadLink` times into silence: 30 + 45 + 60 + 75 ms for 5.
 * Loopback RTTs are far below minRto, so the RTO sits at the floor.
 */
function deadLinkMs(deadLink: number, minRto = 30): number {
  let total = 0;
  for (let i = 0; i < deadLink - 1; i++) total += minRto + i * (minRto >>> 1);
  return total;
}
/**
 * Scheduling slack on a loaded 2-core box: timer ticks (10 ms), mux teardown,
 * GC, an RTO above its floor when the loaded loopback's RTT varies (seen:
 * 218 ms idle, 467 ms with the other suites running), and event-loop stalls of
 * hundreds of ms, more than once. Seconds: which rule closed a stream is told by
 * its error (ERR_KCP_DEAD_LINK) and by the lower bounds, not by a tight upper one.
 */
const SLACK_MS = 3000;

function closedWithin(fd: StreamFD, ms: number): Promise<Error | undefined> {
  return new Promise((resolve, reject) => {
    let error: Error | undefined;
    fd.on('error', (err) => {
      error = err;
    });
    const timer = setTimeout(() => reject(new Error(`not closed within ${ms} ms`)), ms);
    fd.once('close', () => {
      clearTimeout(timer);
      resolve(error);
    });
  });
}

describe('kcp:// failure detection', () => {
  it('finds a vanished peer within the dead-link time and closes its streams', async () => {
    // Mux keepalive off: only KCP's own detection is at work.
    const server = await registry.listen('kcp://127.0.0.1:0?idle-timeout=1000&ping=0');
    const accepted: StreamFD[] = [];
    server.on('connection', (fd) => {
      accepted.push(fd);
      fd.on('error', () => {});
      fd.pipe(fd);
    });
    const relay = await LossyRelay.start(server.address().port, 0);
    const address = `kcp://127.0.0.1:${relay.port}?dead-link=5&ping=0`;
    const streams = await Promise.all([registry.connect(address), registry.connect(address)]);
    for (const fd of streams) {
      fd.write('hello');
      await once(fd, 'data');
    }
    relay.blackhole();
    const started = Date.now();
    const deadline = deadLinkMs(5);
    const closing = streams.map((fd) => closedWithin(fd, deadline + SLACK_MS));
    const serverSide = accepted.map((fd) => closedWithin(fd, 1000 + SLACK_MS));
    streams[0]?.write(Buffer.alloc(10_000));
    const errors = await Promise.all(closing);
    // Not before the fifth transmission (so it is the dead-link rule that fired,
    // at the RTO floor), and not much after it.
    const clientMs = Date.now() - started;
    expect(clientMs).toBeGreaterThanOrEqual(deadline - 20);
    expect(clientMs).toBeLessThan(deadline + SLACK_MS);
    expect(errors.some((e) => causedBy(e, 'ERR_KCP_DEAD_LINK'))).toBe(true);
    // The server hears nothing at all: its idle timeout (1 s) reaps the session,
    // not earlier (the last ACK it heard came just before the blackhole).
    await Promise.all(serverSide);
    const serverMs = Date.now() - started;
    expect(serverMs).toBeGreaterThanOrEqual(900);
    expect(serverMs).toBeLessThan(1000 + SLACK_MS);
    await server.close();
    await relay.close();
  }, 15_000);

  it('encrypted mode carries data; a wrong key is dropped and counted, the client times out', async () => {
    const raw = (await kcpSessionTransport.listen(
      parseAddress('kcp-session://127.0.0.1:0?key=right%20one'),
    )) as KcpServerFD;
    const { MuxSession } = await import('../../../transports/mux/index.js');
    raw.on('connection', (fd) => {
      const session = MuxSession.server(fd);
      session.on('stream', (s) => {
        s.on('error', () => {});
        s.pipe(s);
      });
    });
    const port = raw.address().port;

    const good = await registry.connect(`kcp://127.0.0.1:${port}?key=right%20one&session-idle=50`);
    const [sent, received] = await Promise.all([
      writeRandom(good, 1024 * 1024),
      hashUntilEnd(good),
    ]);
    expect(received.sha256).toBe(sent);
    const cipher = raw.endpoint.cipher;
    if (cipher === null) throw new Error('listener is not encrypted');
    expect(cipher.stats.dropped).toBe(0);

    await expect(
      registry.connect(`kcp://127.0.0.1:${port}?key=wrong&handshake-timeout=400`),
    ).rejects.toSatisfy((err) => isVproxyError(err));
    expect(cipher.stats.dropForged).toBeGreaterThan(0);
    expect(raw.endpoint.sessionCount).toBeLessThanOrEqual(1);

    await expect(
      registry.connect(`kcp://127.0.0.1:${port}?handshake-timeout=400`),
    ).rejects.toSatisfy((err) => isVproxyError(err));
    await raw.close(); // the socket closes with the last session (the pool drops it when idle)
  }, 15_000);
});
