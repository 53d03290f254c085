import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RespController } from '../../src/control/controllers/resp-controller.js';
import type { CommandExecutor } from '../../src/control/executor.js';
import { StoreMetrics } from '../../src/control/observability/metrics.js';
import { ResourceStore } from '../../src/control/store.js';
import { createDefaultRegistry } from '../../transports/default-registry.js';
import { expectNoLeakedSockets, snapshotSockets } from '../helpers/handles.js';
import { peerClosedWithin, readAll } from '../helpers/net.js';
import { parsePromText, sampleValue } from '../helpers/prom-text.js';
import { requireTool } from '../helpers/require-tool.js';

// Issue 10 findings 1, 2 and 8 (RESP part) as attacks on a live controller,
// in-process so the test can read the controller's own counters and this
// process's socket handles. Loopback only; every attack is bounded in count
// and time.

const run = promisify(execFile);
const executor: CommandExecutor = {
  async execute(line) {
    if (line === 'version') return { kind: 'text', text: 'vproxy-ts test' };
    return { kind: 'done' };
  },
};

const AUTH_TIMEOUT_MS = 400;
let store: ResourceStore;
let controller: RespController;
let baseline: string[];
let port: number;

beforeAll(async () => {
  baseline = snapshotSockets();
  store = new ResourceStore(createDefaultRegistry());
  controller = await RespController.start({
    name: 'resp0',
    address: '127.0.0.1:0',
    password: 's3cret',
    executor,
    registry: store.registry,
    authTimeoutMs: AUTH_TIMEOUT_MS,
  });
  port = controller.address().port;
});

afterAll(async () => {
  await controller.close();
  await store.close();
  await expectNoLeakedSockets(baseline);
});

function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
}

const REDIS_CLI = requireTool('redis-cli');

/** A legitimate client's AUTH + PING: redis-cli when installed, else the same bytes by hand. */
async function ping(): Promise<{ out: string; ms: number }> {
  const t0 = performance.now();
  if (!REDIS_CLI.missing) {
    const { stdout } = await run(
      REDIS_CLI.path,
      ['-p', String(port), '-a', 's3cret', '--no-auth-warning', 'ping'],
      { timeout: 5000 },
    );
    return { out: stdout, ms: performance.now() - t0 };
  }
  const s = connect(port, '127.0.0.1');
  s.on('error', () => {});
  s.end('AUTH s3cret\r\nPING\r\n');
  const reply = (await readAll(s)).toString();
  s.destroy();
  return { out: reply === '+OK\r\n+PONG\r\n' ? 'PONG\n' : reply, ms: performance.now() - t0 };
}

async function opened(): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  s.on('error', () => {});
  await once(s, 'connect');
  return s;
}

async function settle(pred: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

describe('RESP controller under attack', () => {
  it('2,000 connect-and-close cycles leave no CLOSE-WAIT sockets behind (finding 1)', async () => {
    const before = tcpHandles();
    for (let batch = 0; batch < 40; batch++) {
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          const s = await opened();
          s.end();
          await once(s, 'close');
        }),
      );
    }
    // Closing a client half-closes it; the controller must finish the close.
    expect(await settle(() => tcpHandles() <= before, 2000)).toBe(true);
    expect(controller.stats().clients).toBe(0);
    expect((await ping()).out).toBe('PONG\n');
  });

  it('answers what a client sent before its FIN, then closes', async () => {
    const s = await opened();
    s.end('AUTH s3cret\r\nversion\r\nPING\r\n');
    const all = await readAll(s);
    expect(all.toString()).toBe('+OK\r\n$14\r\nvproxy-ts test\r\n+PONG\r\n');
  });

  it('QUIT answers +OK and closes, before or after AUTH (finding 8)', async () => {
    for (const script of ['QUIT\r\nPING\r\n', 'AUTH s3cret\r\nQUIT\r\nPING\r\n']) {
      const s = await opened();
      s.write(script);
      const all = await readAll(s);
      expect(all.toString()).toBe(script.startsWith('AUTH') ? '+OK\r\n+OK\r\n' : '+OK\r\n');
      // The controller closed first; the client's FIN completes the close.
      s.end();
    }
    expect(await settle(() => controller.stats().clients === 0, 2000)).toBe(true);
  });

  it('closes a client that does not authenticate within the deadline', async () => {
    const silent = await opened();
    const guessing = await opened();
    const t0 = performance.now();
    const guesser = setInterval(() => guessing.write('AUTH nope\r\n'), 50);
    guessing.resume();
    try {
      // Seconds of lateness allowed: a loaded CI machine stalls a process for hundreds of
      // ms; no deadline at all would keep them open forever.
      await Promise.all([
        peerClosedWithin(silent, AUTH_TIMEOUT_MS + 4000),
        peerClosedWithin(guessing, AUTH_TIMEOUT_MS + 4000),
      ]);
    } finally {
      clearInterval(guesser);
    }
    expect(performance.now() - t0).toBeGreaterThanOrEqual(AUTH_TIMEOUT_MS - 50);
    silent.destroy();
    guessing.destroy();
    expect(controller.stats().refused.handshakeTimeout).toBeGreaterThanOrEqual(2);
  });

  it('a client that pipelines PING and never reads costs bounded memory; others are served (finding 2)', async () => {
    const flood = await opened();
    flood.pause();
    flood.write('AUTH s3cret\r\n');
    const chunk = Buffer.from('PING\r\n'.repeat(10_000));
    const mem0 = process.memoryUsage();
    const t0 = performance.now();
    let held = false;
    let done = false;
    const latencies: number[] = [];
    const pinger = (async () => {
      while (!done) {
        const r = await ping();
        expect(r.out).toBe('PONG\n');
        latencies.push(r.ms);
      }
    })();
    try {
      // Offer PINGs as fast as the controller takes them, honouring
      // backpressure, until it stops taking any for a second: held.
      while (performance.now() - t0 < 15_000) {
        if (flood.write(chunk)) {
          await new Promise((r) => setImmediate(r));
          continue;
        }
        const drained = await Promise.race([
          once(flood, 'drain').then(
            () => true,
            () => false,
          ),
          new Promise<boolean>((r) => setTimeout(() => r(false), 1000)),
        ]);
        if (!drained) {
          held = true;
          break;
        }
      }
      // Keep it stuck a while longer: memory must not move.
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      done = true;
      await pinger;
      flood.destroy();
    }
    const accepted = flood.bytesWritten - flood.writableLength;
    const mem1 = process.memoryUsage();
    const mib = (n: number) => (n / 2 ** 20).toFixed(1);
    console.log(
      `never-reading RESP client: held after ${mib(accepted)} MiB (${((performance.now() - t0) / 1000).toFixed(1)} s), ` +
        `heap ${mib(mem0.heapUsed)} -> ${mib(mem1.heapUsed)} MiB, rss ${mib(mem0.rss)} -> ${mib(mem1.rss)} MiB, ` +
        `${latencies.length} redis-cli pings meanwhile, max ${Math.max(...latencies).toFixed(0)} ms`,
    );
    expect(held).toBe(true);
    // Kernel buffers plus one paused chunk and 64 KiB of replies; unbounded was > 100 MiB.
    expect(accepted).toBeLessThan(16 * 2 ** 20);
    expect(mem1.heapUsed - mem0.heapUsed).toBeLessThan(64 * 2 ** 20);
    expect(latencies.length).toBeGreaterThan(0);
    expect(await settle(() => controller.stats().clients === 0, 2000)).toBe(true);
  });

  it('a client that leaves its replies unread is closed after the write-stall time', async () => {
    const own = await RespController.start({
      name: 'resp-stall',
      address: '127.0.0.1:0',
      password: 's3cret',
      executor,
      registry: store.registry,
      writeStallMs: 500,
    });
    const s = connect(own.address().port, '127.0.0.1');
    s.on('error', () => {});
    await once(s, 'connect');
    s.pause();
    s.write('AUTH s3cret\r\n');
    const chunk = Buffer.from('PING\r\n'.repeat(10_000));
    try {
      const t0 = performance.now();
      while (own.stats().refused.writeStall === 0 && performance.now() - t0 < 15_000) {
        if (!s.destroyed && !s.write(chunk))
          await Promise.race([
            once(s, 'drain').catch(() => {}),
            new Promise((r) => setTimeout(r, 200)),
          ]);
        else await new Promise((r) => setImmediate(r));
      }
      expect(own.stats().refused.writeStall).toBe(1);
      expect(await settle(() => own.stats().clients === 0, 2000)).toBe(true);
    } finally {
      s.destroy();
      await own.close();
    }
  });

  it('holds at most maxClients clients: more are closed on accept and counted', async () => {
    const own = await RespController.start({
      name: 'resp-cap',
      address: '127.0.0.1:0',
      password: 's3cret',
      executor,
      registry: store.registry,
      maxClients: 5,
    });
    const held: Socket[] = [];
    try {
      const p = own.address().port;
      for (let i = 0; i < 5; i++) {
        const s = connect(p, '127.0.0.1');
        s.on('error', () => {});
        await once(s, 'connect');
        held.push(s);
      }
      expect(await settle(() => own.stats().clients === 5, 2000)).toBe(true);
      const extra = connect(p, '127.0.0.1');
      extra.on('error', () => {});
      held.push(extra);
      await peerClosedWithin(extra, 2000);
      expect(own.stats().refused.tooManyClients).toBe(1);
      held[0]?.destroy();
      expect(await settle(() => own.stats().clients === 4, 2000)).toBe(true);
      const again = connect(p, '127.0.0.1');
      again.on('error', () => {});
      held.push(again);
      let got = '';
      again.on('data', (c: Buffer) => {
        got += c.toString();
      });
      again.write('AUTH s3cret\r\nPING\r\n');
      expect(await settle(() => got === '+OK\r\n+PONG\r\n', 2000)).toBe(true);
    } finally {
      for (const s of held) s.destroy();
      await own.close();
    }
  });

  it('1,000 wrong AUTHs are throttled and counted, and the limiter lets the right password in again (finding 8)', async () => {
    const before = controller.stats();
    const s = await opened();
    const replies: Buffer[] = [];
    s.on('data', (c: Buffer) => replies.push(c));
    s.write('AUTH wrong\r\n'.repeat(1000));
    const all = () => Buffer.concat(replies).toString();
    expect(await settle(() => all().split('\r\n').length > 1000, 5000)).toBe(true);
    const lines = all().split('\r\n').filter(Boolean);
    const wrongpass = lines.filter((l) => l.startsWith('-WRONGPASS')).length;
    const throttled = lines.filter((l) => /too many failed AUTH/.test(l)).length;
    expect(wrongpass + throttled).toBe(1000);
    expect(wrongpass).toBeLessThanOrEqual(20);
    const after = controller.stats();
    expect(after.authFailures - before.authFailures).toBe(wrongpass);
    expect(after.authThrottled - before.authThrottled).toBe(throttled);
    s.destroy();
    // While throttled even the right password is refused unchecked; the bucket refills.
    const t0 = performance.now();
    let ok = false;
    while (!ok && performance.now() - t0 < 5000) {
      ok = (await ping()).out === 'PONG\n';
      if (!ok) await new Promise((r) => setTimeout(r, 200));
    }
    expect(ok).toBe(true);
    const m = parsePromText(await new StoreMetrics(store, 't').metrics());
    const labels = { kind: 'resp-controller', controller: 'resp0' };
    expect(sampleValue(m, 'vproxy_controller_auth_throttled_total', labels)).toBe(
      controller.stats().authThrottled,
    );
    expect(sampleValue(m, 'vproxy_controller_auth_failures_total', labels)).toBe(
      controller.stats().authFailures,
    );
  });
});
