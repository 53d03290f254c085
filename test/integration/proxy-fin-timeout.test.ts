import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StoreExecutor } from '../../src/control/command-executor.js';
import type { CommandResult } from '../../src/control/executor.js';
import { ResourceStore } from '../../src/control/store.js';
import { isVproxyError } from '../../src/fd/errors.js';
import type { StreamFD } from '../../src/fd/stream-fd.js';
import { ProxyEngine } from '../../src/proxy/proxy.js';
import { RoundRobinPicker } from '../../src/proxy/round-robin.js';
import { createDefaultRegistry } from '../../transports/default-registry.js';
import { expectNoLeakedSockets, snapshotSockets } from '../helpers/handles.js';
import {
  closedWithin,
  hashUntilEnd,
  peerClosedWithin,
  readAll,
  startServer,
  stopServer,
} from '../helpers/net.js';
import { until } from '../helpers/wait.js';

// Half-closed sessions (HAProxy's client-fin / server-fin): once one side has
// sent FIN, silence on the direction still open for `finTimeoutMs` closes the
// session; bytes on that direction keep it alive however long it lasts.

const registry = createDefaultRegistry();
let baseline: string[];

beforeAll(() => {
  baseline = snapshotSockets();
});

/** What each test still has open if it failed before closing it itself. */
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of cleanups.splice(0)) await close();
});

afterAll(async () => {
  await expectNoLeakedSockets(baseline);
});

const FIN_MS = 300;
const IDLE_MS = 60_000;
/**
 * A cut must come after fin-timeout and long before the idle timeout (the only other thing
 * that could close these sessions); how soon after fin-timeout is the sweep's business and
 * the machine's load (a loaded CI machine stalls a process for hundreds of ms), not a bound
 * to assert.
 */
const CUT_WITHIN_MS = 10_000;

async function setup(handler: (s: Socket) => void, finTimeoutMs = FIN_MS) {
  const backend = await startServer(handler);
  const server = await registry.listen('tcp://127.0.0.1:0');
  const proxy = new ProxyEngine({
    server,
    registry,
    picker: new RoundRobinPicker([`127.0.0.1:${backend.port}`]),
    idleTimeoutMs: IDLE_MS,
    finTimeoutMs,
  });
  const closes: { err: Error | undefined; at: number }[] = [];
  proxy.on('sessionClosed', (_info, err) => closes.push({ err, at: performance.now() }));
  const port = server.address().port;
  const dial = (): Promise<StreamFD> => registry.connect(`tcp://127.0.0.1:${port}`);
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await proxy.close();
      await stopServer(backend.server, backend.sockets);
    })();
    return closing;
  };
  cleanups.push(close);
  return { proxy, dial, close, closes, backendSockets: backend.sockets };
}

describe('fin timeout', () => {
  it('defaults to 30 s and can be turned off with 0', async () => {
    const server = await registry.listen('tcp://127.0.0.1:0');
    const proxy = new ProxyEngine({
      server,
      registry,
      picker: new RoundRobinPicker(['127.0.0.1:1']),
    });
    expect(proxy.limits().finTimeoutMs).toBe(30_000);
    proxy.updateLimits({ finTimeoutMs: 0 });
    expect(proxy.limits().finTimeoutMs).toBe(0);
    expect(proxy.stats().finTimeouts).toBe(0);
    await proxy.close();
  });

  it('client sends, half-closes; a backend that never answers nor closes is cut after fin-timeout', async () => {
    const backendGone: Promise<void>[] = [];
    const backendFin: Promise<unknown>[] = [];
    const env = await setup((s) => {
      s.on('error', () => {});
      backendFin.push(once(s, 'end'));
      backendGone.push(closedWithin(s, CUT_WITHIN_MS));
      s.resume(); // reads everything, answers nothing, never ends
    });
    const client = await env.dial();
    client.on('error', () => {});
    client.end('request');
    await Promise.all(backendFin);
    const finAt = performance.now();
    expect(env.proxy.sessions()).toHaveLength(1);
    await peerClosedWithin(client, CUT_WITHIN_MS);
    const closedAfter = performance.now() - finAt;
    expect(closedAfter).toBeGreaterThanOrEqual(FIN_MS - 50);
    await closedWithin(client, CUT_WITHIN_MS);
    // The proxy closed its backend fd too: the backend sees its peer gone.
    // (It still owns its own socket; it ends it once it notices.)
    for (const s of env.backendSockets) s.end();
    await Promise.all(backendGone);
    // The session closes once the proxy's own two fds have: not ordered with our sockets.
    await until('the session closed', () => env.closes.length > 0, CUT_WITHIN_MS);
    expect(env.proxy.sessions()).toEqual([]);
    expect(env.proxy.stats()).toMatchObject({ finTimeouts: 1, idleTimeouts: 0, active: 0 });
    expect(env.closes).toHaveLength(1);
    const err = env.closes[0]?.err;
    expect(isVproxyError(err, 'ERR_FIN_TIMEOUT')).toBe(true);
    expect(err?.message).toMatch(/client/);
    await env.close();
  });

  it('backend sends, half-closes; a silent client is cut after fin-timeout', async () => {
    const backendGone: Promise<void>[] = [];
    const env = await setup((s) => {
      s.on('error', () => {});
      backendGone.push(closedWithin(s, CUT_WITHIN_MS));
      s.resume();
      s.end('greeting');
    });
    const client = await env.dial();
    client.on('error', () => {});
    const greeting = await readAll(client);
    expect(greeting.toString()).toBe('greeting');
    const finAt = performance.now();
    // Our client keeps its write side open and says nothing.
    await Promise.all(backendGone);
    expect(performance.now() - finAt).toBeGreaterThanOrEqual(FIN_MS - 50);
    await until('the session closed', () => env.closes.length > 0, CUT_WITHIN_MS);
    expect(env.proxy.sessions()).toEqual([]);
    expect(env.proxy.stats()).toMatchObject({ finTimeouts: 1, idleTimeouts: 0 });
    const err = env.closes[0]?.err;
    expect(isVproxyError(err, 'ERR_FIN_TIMEOUT')).toBe(true);
    expect(err?.message).toMatch(/backend/);
    client.destroy();
    await env.close();
  });

  it('a 50 MB download after the client FIN keeps flowing past fin-timeout (gaps below it)', async () => {
    const total = 50 * 1024 * 1024;
    const chunk = 1024 * 1024;
    // Longer than FIN_MS: each gap below leaves the sweep 900 ms of slack, so a loaded
    // machine stalling this process (the proxy and the backend alike) cannot make a gap
    // look like a silence of fin-timeout. With FIN_MS and 50 ms gaps, 250 ms of stall did.
    const finMs = 1000;
    const gapMs = finMs / 10;
    let sent = '';
    const env = await setup((s) => {
      s.on('error', () => {});
      void (async () => {
        await once(s, 'end'); // the whole request, then the answer
        const hash = createHash('sha256');
        const block = randomBytes(chunk);
        for (let i = 0; i * chunk < total; i++) {
          const piece = Buffer.from(block);
          piece.writeUInt32LE(i, 0);
          hash.update(piece);
          if (!s.write(piece)) await once(s, 'drain');
          // Slow: the whole answer takes several fin-timeouts, no gap reaches one.
          await new Promise((r) => setTimeout(r, gapMs));
        }
        sent = hash.digest('hex');
        s.end();
      })();
      s.resume();
    }, finMs);
    const client = await env.dial();
    const started = performance.now();
    const received = hashUntilEnd(client);
    client.end('GET /big');
    const got = await received;
    expect(performance.now() - started).toBeGreaterThan(3 * finMs);
    expect(got.bytes).toBe(total);
    expect(got.sha256).toBe(sent);
    await closedWithin(client, CUT_WITHIN_MS);
    // Our client's close and the session's are not ordered (CI once saw [] here).
    await until('the session closed', () => env.closes.length > 0, CUT_WITHIN_MS);
    expect(env.proxy.stats()).toMatchObject({ finTimeouts: 0, idleTimeouts: 0 });
    expect(env.closes.map((c) => c.err)).toEqual([undefined]);
    await env.close();
  }, 60_000);

  it('fin-timeout 0 keeps a half-closed session until the idle timeout', async () => {
    const backendFin: Promise<unknown>[] = [];
    const env = await setup((s) => {
      s.on('error', () => {});
      backendFin.push(once(s, 'end'));
      s.resume();
    }, 0);
    const client = await env.dial();
    client.on('error', () => {});
    client.end('request');
    await Promise.all(backendFin);
    // Three fin-timeouts of silence: enough for the sweep to have cut it were it on.
    await new Promise((r) => setTimeout(r, 3 * FIN_MS));
    expect(env.proxy.sessions()).toHaveLength(1);
    client.destroy();
    await env.close();
  });
});

function items(r: CommandResult): readonly unknown[] {
  if (r.kind !== 'list' && r.kind !== 'lines') throw new Error(`expected a list, got ${r.kind}`);
  return r.kind === 'list' ? r.items : r.lines;
}

describe('fin-timeout through the control plane', () => {
  it('add / update tcp-lb and socks5-server take fin-timeout; listed, saved, enforced', async () => {
    const backendFin: Promise<unknown>[] = [];
    const backend = await startServer((s) => {
      s.on('error', () => {});
      backendFin.push(once(s, 'end'));
      s.resume();
    });
    const store = new ResourceStore(createDefaultRegistry());
    cleanups.push(async () => {
      await store.close();
      await stopServer(backend.server, backend.sockets);
    });
    const ex = new StoreExecutor({ store });
    for (const line of [
      'add server-group sg0 timeout 500 period 60000 up 1 down 2 check none',
      `add server s0 to server-group sg0 address 127.0.0.1:${backend.port} weight 10`,
      'add upstream ups0',
      'add server-group sg0 to upstream ups0 weight 10',
      'add tcp-lb lb0 address 127.0.0.1:0 upstream ups0 fin-timeout 300',
      'add socks5-server s5 address 127.0.0.1:0 upstream ups0',
    ]) {
      expect(await ex.execute(line, 'stdio')).toEqual({ kind: 'done' });
    }
    const lb = items(await ex.execute('list-detail tcp-lb', 'stdio'));
    expect(lb[0]).toMatch(/ timeout 900000 fin-timeout 300 /);
    const s5 = items(await ex.execute('list-detail socks5-server', 'stdio'));
    expect(s5[0]).toMatch(/ fin-timeout 30000 /);
    await ex.execute('update socks5-server s5 fin-timeout 1500', 'stdio');
    expect(items(await ex.execute('list-detail socks5-server', 'stdio'))[0]).toMatch(
      / fin-timeout 1500 /,
    );
    const config = items(await ex.execute('list config', 'stdio')).join('\n');
    expect(config).toMatch(/add tcp-lb lb0 .* fin-timeout 300\b/);
    expect(config).toMatch(/add socks5-server s5 .* fin-timeout 1500\b/);

    // The tcp-lb enforces it: a half-closed client against a silent backend is cut.
    const port = Number(/bind 127\.0\.0\.1:(\d+)/.exec(String(lb[0]))?.[1]);
    const client = await registry.connect(`tcp://127.0.0.1:${port}`);
    client.on('error', () => {});
    client.end('request');
    await Promise.all(backendFin);
    const finAt = performance.now();
    await peerClosedWithin(client, CUT_WITHIN_MS);
    expect(performance.now() - finAt).toBeGreaterThanOrEqual(FIN_MS - 50);
    await closedWithin(client, CUT_WITHIN_MS);
    await until(
      'the session closed',
      () => store.tcpLbs.get('lb0')?.lb.stats().finTimeouts === 1,
      CUT_WITHIN_MS,
    );
    expect(store.tcpLbs.get('lb0')?.lb.stats().finTimeouts).toBe(1);

    await ex.execute('update tcp-lb lb0 fin-timeout 0', 'stdio');
    expect(items(await ex.execute('list-detail tcp-lb', 'stdio'))[0]).toMatch(/ fin-timeout 0 /);
  });
});
