import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Registry } from '../../src/fd/registry.js';
import { createDefaultRegistry } from '../../transports/default-registry.js';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { expectNoLeakedSockets, snapshotSockets } from '../helpers/handles.js';
import { startEchoServer, stopServer } from '../helpers/net.js';
import {
  connectCloseFlood,
  type Daemon,
  fdCount,
  holdPartial,
  httpProbe,
  KCP_KEY,
  kcpForge,
  MB,
  neverReading,
  openIdle,
  PARTIAL,
  type ProbeStats,
  probeLoop,
  respProbe,
  rssOf,
  socks5Probe,
  startDaemon,
  tcpEchoProbe,
  tlsEchoProbe,
  transportProbe,
  Watch,
} from './attacks.js';

// Issue 10, "every listener defends itself", against a real daemon process (dist/):
// a smaller version of bench/adversarial.mjs's matrix. Each attack is bounded in count
// and time, on loopback, while a legitimate client keeps using the attacked listener;
// afterwards the daemon's fd count must come back to its baseline and its RSS must have
// stayed bounded. Time bounds here are hang detection, several times what a defended
// listener needs (a handshake deadline is 10 s; closing on end takes milliseconds).

/** fds above the baseline still tolerated after an attack (timers, a lingering probe). */
const FD_MARGIN = 5;
/** How long the daemon gets to release what an attack cost once the attacker is gone. */
const RELEASE_MS = 5000;

let echo: Awaited<ReturnType<typeof startEchoServer>>;
let certs: TestCerts;
let registry: Registry;
let handles: string[];
const daemons: Daemon[] = [];

async function daemon(): Promise<Daemon> {
  const d = await startDaemon(echo.port, certs);
  daemons.push(d);
  return d;
}

beforeAll(async () => {
  handles = snapshotSockets();
  echo = await startEchoServer();
  certs = makeTestCerts();
  // Our own client transports (ws://, kcp://) for the legitimate client.
  registry = createDefaultRegistry();
});

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  await stopServer(echo.server, echo.sockets);
  certs.dispose();
  // The kcp client sockets linger 1 s after their session (to answer stragglers).
  await expectNoLeakedSockets(handles, 3000);
});

/** Run `attack` while `probe` runs back to back; the daemon's peaks and the probe's stats. */
async function underAttack<T>(
  d: Daemon,
  probe: () => Promise<void>,
  attack: () => Promise<T>,
): Promise<{ watch: Watch; legit: ProbeStats; result: T }> {
  const watch = new Watch(d.pid);
  let over = false;
  const legit = probeLoop(probe, () => over);
  let result: T;
  try {
    result = await attack();
  } finally {
    over = true;
  }
  const stats = await legit;
  watch.stop();
  return { watch, legit: stats, result };
}

function expectServed(legit: ProbeStats): void {
  expect(legit.errors, 'legitimate requests that failed during the attack').toEqual([]);
  expect(legit.ok).toBeGreaterThan(0);
}

describe('a daemon under attack (issue 10)', () => {
  describe('connect/close flood: every fd comes back, a legitimate client is served', () => {
    let d: Daemon;
    beforeAll(async () => {
      d = await daemon();
    });

    const N = 1000;
    const targets = ['resp', 'http', 'tcp', 'ws', 'tls', 'socks5'] as const;
    it.each(targets)(
      `%s: ${N} connections closed as soon as they are up`,
      async (target) => {
        const p = d.ports;
        const port = target === 'socks5' ? p.socks5 : p[target];
        const probe = {
          resp: respProbe(p.resp),
          http: httpProbe(p.http),
          tcp: tcpEchoProbe(p.tcp),
          ws: transportProbe(registry, `ws://127.0.0.1:${p.ws}`),
          tls: tlsEchoProbe(p.tls),
          socks5: socks5Probe(p.socks5, echo.port),
        }[target];
        const { watch, legit, result } = await underAttack(d, probe, () =>
          connectCloseFlood(port, N),
        );
        expect(result.made).toBe(N);
        expectServed(legit);
        // Closing on the client's end (issue 10 #1) is what releases these: no timer needed.
        expect(await watch.fdsSettled(RELEASE_MS, FD_MARGIN)).toBeLessThanOrEqual(
          watch.before.fds + FD_MARGIN,
        );
        expect(watch.peakRss - watch.before.rss).toBeLessThan(128 * MB);
      },
      40_000,
    );
  });

  it('never-reading RESP clients before AUTH: reading pauses, RSS stays bounded, fds come back', async () => {
    // Its own daemon: on an undefended controller this attack can kill the process.
    const d = await daemon();
    const before = rssOf(d.pid);
    const chunk = Buffer.from('PING\r\n'.repeat(1024));
    const { watch, legit, result } = await underAttack(d, respProbe(d.ports.resp), () =>
      // Stop early at +256 MB: the assertion below has failed by then anyway.
      neverReading(d.ports.resp, chunk, 3, 5000, () => !(rssOf(d.pid) < before + 256 * MB)),
    );
    console.log(
      `never-reading RESP: sent ${result.writtenMB.toFixed(1)} MB, daemon RSS ` +
        `+${((watch.peakRss - watch.before.rss) / MB).toFixed(0)} MB, ${result.closedByServer}/3 closed by it, ` +
        `legit ${legit.ok}/${legit.attempts} p99 ${legit.p99?.toFixed(0)} ms`,
    );
    // Alive: a heap out of memory ends in abort(), a signal, so check both.
    expect({ code: d.child.exitCode, signal: d.child.signalCode }, d.output()).toEqual({
      code: null,
      signal: null,
    });
    expect(watch.peakRss - watch.before.rss).toBeLessThan(64 * MB);
    expectServed(legit);
    expect(await watch.fdsSettled(RELEASE_MS, FD_MARGIN)).toBeLessThanOrEqual(
      watch.before.fds + FD_MARGIN,
    );
  }, 40_000);

  describe('on a shared daemon', () => {
    let d: Daemon;
    beforeAll(async () => {
      d = await daemon();
    });

    it('never-reading HTTP clients pipelining GET /healthz: RSS bounded, fds come back', async () => {
      const before = rssOf(d.pid);
      const chunk = Buffer.from('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'.repeat(64));
      const { watch, legit } = await underAttack(d, httpProbe(d.ports.http), () =>
        neverReading(d.ports.http, chunk, 3, 5000, () => !(rssOf(d.pid) < before + 256 * MB)),
      );
      expect(watch.peakRss - watch.before.rss).toBeLessThan(64 * MB);
      expectServed(legit);
      expect(await watch.fdsSettled(RELEASE_MS, FD_MARGIN)).toBeLessThanOrEqual(
        watch.before.fds + FD_MARGIN,
      );
    }, 40_000);

    it('slowloris and half-open handshakes on every listener kind are closed by the daemon', async () => {
      const p = d.ports;
      const kinds = {
        resp: p.resp,
        http: p.http,
        socks5: p.socks5,
        ws: p.ws,
        tls: p.tls,
      } as const;
      // A legitimate client of every kind, in turn, for the whole attack.
      const probes = [
        respProbe(p.resp),
        httpProbe(p.http),
        socks5Probe(p.socks5, echo.port),
        transportProbe(registry, `ws://127.0.0.1:${p.ws}`),
        tlsEchoProbe(p.tls),
      ];
      let turn = 0;
      const probe = () => (probes[turn++ % probes.length] as () => Promise<void>)();
      // Handshake deadlines are 10 s (socks5: 11 s); 25 s means "never".
      const CAP_MS = 25_000;
      const { watch, legit, result } = await underAttack(d, probe, async () => {
        const entries = Object.entries(kinds) as [keyof typeof kinds, number][];
        const held = await Promise.all(
          entries.flatMap(([kind, port]) => [
            holdPartial(port, 40, PARTIAL[kind].first, null, CAP_MS),
            holdPartial(port, 10, PARTIAL[kind].first, PARTIAL[kind].trickle, CAP_MS),
          ]),
        );
        return Object.fromEntries(
          entries.map(([kind], i) => {
            const [half, slow] = [held[2 * i], held[2 * i + 1]];
            return [
              kind,
              {
                halfOpen: `${half?.closedByServer}/${half?.opened} closed by the daemon`,
                slowloris: `${slow?.closedByServer}/${slow?.opened} closed by the daemon`,
              },
            ];
          }),
        );
      });
      console.log('slowloris / half-open:', JSON.stringify(result));
      const everyOneClosed = Object.fromEntries(
        Object.keys(kinds).map((k) => [
          k,
          { halfOpen: '40/40 closed by the daemon', slowloris: '10/10 closed by the daemon' },
        ]),
      );
      expect(result).toEqual(everyOneClosed);
      expectServed(legit);
      expect(watch.peakRss - watch.before.rss).toBeLessThan(128 * MB);
      expect(await watch.fdsSettled(RELEASE_MS, FD_MARGIN)).toBeLessThanOrEqual(
        watch.before.fds + FD_MARGIN,
      );
    }, 60_000);

    it('1,000 idle connections through a tcp-lb: bounded RSS per connection, every fd back', async () => {
      const N = 1000;
      let rssPerConn = Number.NaN;
      let fdsHeld = Number.NaN;
      const { watch, legit, result } = await underAttack(d, tcpEchoProbe(d.ports.tcp), async () => {
        const before = { rss: rssOf(d.pid), fds: fdCount(d.pid) };
        const sockets = await openIdle(d.ports.tcp, N);
        await new Promise((r) => setTimeout(r, 500));
        rssPerConn = (rssOf(d.pid) - before.rss) / sockets.length;
        fdsHeld = fdCount(d.pid) - before.fds;
        for (const s of sockets) s.destroy();
        return sockets.length;
      });
      console.log(
        `idle: ${result} connections, ${(rssPerConn / 1024).toFixed(1)} KB RSS and ` +
          `${(fdsHeld / result).toFixed(2)} fds each`,
      );
      expect(result).toBe(N);
      // Issue 10 measured 17.5 KB; 64 KB catches a per-connection buffer gone astray.
      expect(rssPerConn).toBeLessThan(64 * 1024);
      expectServed(legit);
      expect(await watch.fdsSettled(RELEASE_MS, FD_MARGIN)).toBeLessThanOrEqual(
        watch.before.fds + FD_MARGIN,
      );
    }, 40_000);

    it.each([
      { keyed: false, what: 'session starts from 1,000 ports on a keyless kcp listener' },
      { keyed: true, what: 'random datagrams from 1,000 ports on a keyed kcp listener' },
    ])(
      'forged $what do not starve a legitimate kcp client',
      async ({ keyed }) => {
        const port = keyed ? d.ports.kcpKey : d.ports.kcp;
        // session-idle=1: the client's session closes after each probe, so every probe is a
        // new session start competing with the forged ones for the listener's table.
        const address = keyed
          ? `kcp://127.0.0.1:${port}?key=${KCP_KEY}&session-idle=1`
          : `kcp://127.0.0.1:${port}?session-idle=1`;
        const watch = new Watch(d.pid);
        let over = false;
        const forging = kcpForge(port, 1000, 2, keyed, () => over);
        // Let the first rounds land (2,000 starts fill 1,024 slots on an undefended listener).
        await new Promise((r) => setTimeout(r, 1200));
        const t0 = Date.now();
        const legit = await probeLoop(
          transportProbe(registry, address),
          () => Date.now() - t0 > 3000,
        );
        over = true;
        const sent = await forging;
        watch.stop();
        console.log(
          `kcp ${keyed ? 'keyed' : 'keyless'}: ${sent} forged datagrams, legit ${legit.ok}/${legit.attempts} ` +
            `p50 ${legit.p50?.toFixed(0)} p99 ${legit.p99?.toFixed(0)} ms, RSS +${((watch.peakRss - watch.before.rss) / MB).toFixed(0)} MB`,
        );
        expectServed(legit);
        expect(watch.peakRss - watch.before.rss).toBeLessThan(64 * MB);
      },
      30_000,
    );
  });
});
