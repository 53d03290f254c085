import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecurityGroup } from '../../src/lb/security-group.js';
import { ServerGroup } from '../../src/lb/server-group.js';
import { TcpLB } from '../../src/lb/tcp-lb.js';
import { Upstream } from '../../src/lb/upstream.js';
import { createDefaultRegistry } from '../../transports/default-registry.js';
import { expectNoLeakedSockets, snapshotSockets } from '../helpers/handles.js';
import { startServer, stopServer } from '../helpers/net.js';

// Finding #8 of issue 10: clients that send and half-close against a backend
// that never answers and never closes used to hold the session (two proxy fds)
// until the 15-minute idle timeout — 18,000 fds held in the review. With a fin
// timeout every such session is released once its open direction is silent
// for that long, while a legitimate client is still served.

const SESSIONS = 2000;
const FIN_MS = 8000;
const registry = createDefaultRegistry();
let baseline: string[];

beforeAll(() => {
  baseline = snapshotSockets();
});

afterAll(async () => {
  await expectNoLeakedSockets(baseline, 5000);
});

const openFds = (): number => readdirSync('/proc/self/fd').length;

/** Connect, send a byte, half-close; resolves once the proxy has closed on us. */
async function halfCloser(port: number): Promise<{ closed: Promise<number> }> {
  const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  s.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  s.end('x');
  const closed = new Promise<number>((resolve) => {
    s.resume();
    s.once('close', () => resolve(performance.now()));
  });
  return { closed };
}

async function legitRoundTrip(port: number): Promise<{ answer: string; ms: number }> {
  const started = performance.now();
  const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  s.end('PING');
  await new Promise<void>((resolve, reject) => {
    s.once('close', () => resolve());
    s.once('error', reject);
  });
  return { answer: Buffer.concat(chunks).toString(), ms: performance.now() - started };
}

describe('half-closed sessions against a backend that never closes', () => {
  it(`${SESSIONS} client half-closes are all released after the fin timeout; a legit client is served`, async () => {
    // The backend: a PING gets PONG and a close; anything else is read and
    // then ignored forever (never answered, never ended).
    const held: Socket[] = [];
    const backend = await startServer((s) => {
      s.on('error', () => {});
      s.once('data', (first: Buffer) => {
        if (first.toString().startsWith('PING')) s.end('PONG');
        else held.push(s);
      });
    });
    const group = new ServerGroup({
      name: 'sg',
      healthCheck: { timeoutMs: 1000, periodMs: 60_000, up: 1, down: 1, check: { kind: 'none' } },
    });
    group.add('b', `127.0.0.1:${backend.port}`);
    const upstream = new Upstream('ups');
    upstream.add(group);
    const lb = await TcpLB.start({
      name: 'lb',
      address: 'tcp://127.0.0.1:0',
      upstream,
      registry,
      securityGroup: SecurityGroup.allowAll(),
      finTimeoutMs: FIN_MS,
    });
    const port = lb.bound().port;
    const fdsBefore = openFds();

    const started = performance.now();
    const clients: { closed: Promise<number> }[] = [];
    for (let i = 0; i < SESSIONS; i += 200) {
      const batch = Array.from({ length: Math.min(200, SESSIONS - i) }, () => halfCloser(port));
      clients.push(...(await Promise.all(batch)));
    }
    const allFinnedAt = performance.now();
    // Setup must finish well inside one fin timeout for the count below to mean anything.
    expect(allFinnedAt - started).toBeLessThan(FIN_MS * 0.75);
    // Every session is held (client fd + backend fd on the proxy side).
    await until(() => lb.stats().active === SESSIONS && held.length === SESSIONS, 5000);
    const heldFds = openFds() - fdsBefore;
    expect(heldFds).toBeGreaterThanOrEqual(3 * SESSIONS);

    // Meanwhile a legitimate client is served promptly.
    const legit = await legitRoundTrip(port);
    expect(legit.answer).toBe('PONG');
    // Served while the whole flood is still held: no session has been released by the
    // fin timeout yet, so it did not wait behind the flood (a bound on legit.ms would be
    // one on the wall clock; the figure is printed below).
    expect(lb.stats().finTimeouts).toBe(0);

    // All released after the fin timeout (plus sweep granularity, seen ~0.9 s, and load:
    // seconds of slack, still nothing like the 15-minute idle timeout they would wait for).
    const closedAt = await Promise.all(clients.map((c) => c.closed));
    const last = Math.max(...closedAt);
    const first = Math.min(...closedAt);
    expect(first - started).toBeGreaterThanOrEqual(FIN_MS - 100);
    expect(last - allFinnedAt).toBeLessThan(FIN_MS + 5000);
    await until(() => lb.stats().active === 0, 5000);
    expect(lb.stats()).toMatchObject({ active: 0, finTimeouts: SESSIONS, idleTimeouts: 0 });
    // What remains is what the misbehaving backend itself still holds: one fd per session.
    expect(openFds() - fdsBefore).toBeLessThanOrEqual(SESSIONS + 50);

    // For the table: attack -> bound held.
    console.info(
      `half-closed x${SESSIONS}: fds held ${heldFds} (4 per session: client, proxy x2, backend), ` +
        `legit round trip ${legit.ms.toFixed(0)} ms, first release ${(first - started).toFixed(0)} ms ` +
        `after the first FIN, last ${(last - allFinnedAt).toFixed(0)} ms after the last ` +
        `(fin-timeout ${FIN_MS} ms), fds left ${openFds() - fdsBefore} (the backend's own)`,
    );
    await lb.close();
    await group.close();
    await stopServer(backend.server, backend.sockets);
    expect(openFds()).toBeLessThanOrEqual(fdsBefore + 50);
  }, 40_000);
});

async function until(cond: () => boolean, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
