#!/usr/bin/env node
// bench/websocks-agent.mjs — the WebSocks agent + server from the build (npm run build first):
// throughput of curl --socks5-hostname through agent → websocks-server → backend over ws,
// wss and kcp against curl straight to the backend; and the time to open a proxied
// connection (SOCKS5 handshake through the tunnel to an echo reply), pooled and unpooled,
// against the same against the backend directly. Medians; one printed table.
// BENCH_MB (default 100) per transfer, BENCH_OPENS (default 50) opens per row; new proxied
// connections per second: BENCH_CONC (default 8) clients opening, echoing a byte and closing for
// BENCH_RATE_S (default 5) seconds. The two-hop tcp chain row opens through two relays (same
// measure: connect, one echoed byte); the floor row does the same through two bare Node pipe
// proxies (no product code), what two process hops cost on this machine. The early-reply
// rows: pooled opens with agent.early-reply on (success once the request is on the tunnel).
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createHttp } from 'node:http';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { selfSignedCert } from './lib/certs.mjs';

const BIN = fileURLToPath(new URL('../dist/apps/vproxy.js', import.meta.url));
const PIPE_PROXY = fileURLToPath(new URL('./lib/node-pipe-proxy.mjs', import.meta.url));
const MB = Number(process.env.BENCH_MB ?? 100);
const OPENS = Number(process.env.BENCH_OPENS ?? 50);
const CONC = Number(process.env.BENCH_CONC ?? 8);
const RATE_S = Number(process.env.BENCH_RATE_S ?? 5);
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'wsagent-bench-'));
const children = [];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p90 = (xs) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.9))];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

function start(args, ready, script = BIN) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    const on = (d) => {
      out += d;
      if (ready.test(out)) resolve(child);
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
}

const body = randomBytes(MB * 1024 * 1024);
const web = createHttp((_req, res) =>
  res.writeHead(200, { 'Content-Length': body.length }).end(body),
);
web.listen(0, '127.0.0.1');
await once(web, 'listening');
const webPort = web.address().port;
const echo = createServer((s) => s.pipe(s)).listen(0, '127.0.0.1');
await once(echo, 'listening');
const echoPort = echo.address().port;

const certDir = mkdtempSync(join(tmpdir(), 'wsagent-bench-cert-'));
const { cert: certFile, key: keyFile } = selfSignedCert(certDir);

async function server(tls, kcp) {
  const port = await freePort();
  await start(
    [
      'websocks-server',
      '--listen',
      `${tls ? 'wss' : 'ws'}://127.0.0.1:${port}`,
      '--auth',
      'a:b',
      '--allow-loopback',
      '--log-level',
      'warn',
      ...(tls ? ['--cert', certFile, '--key', keyFile] : []),
      ...(kcp ? ['--kcp'] : []),
    ],
    /listening on/,
  );
  return port;
}

async function agent(entry, pool, early = false) {
  const socks = await freePort();
  const file = join(dir, `a-${socks}.conf`);
  writeFileSync(
    file,
    [
      `agent.listen ${socks}`,
      'proxy.server.auth a:b',
      `agent.pool ${pool}`,
      ...(early ? ['agent.early-reply on'] : []),
      `agent.cacerts.path ${certFile}`,
      'proxy.server.hc.period 500',
      'proxy.server.list.start',
      entry,
      'proxy.server.list.end',
      'proxy.domain.list.start',
      '127.0.0.1',
      'proxy.domain.list.end',
    ].join('\n'),
  );
  const child = await start(['websocks-agent', file, '--log-level', 'info'], /socks5 listening/);
  let up = '';
  child.stderr.on('data', (d) => {
    up += d;
  });
  for (let i = 0; i < 100 && !/server-up/.test(up); i++) await sleep(50);
  await sleep(pool > 0 ? 1500 : 200); // let the pool fill
  return socks;
}

async function curlSeconds(args) {
  const { stdout } = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{time_total}', ...args]);
  return Number(stdout);
}

async function throughput(args) {
  const times = [];
  for (let i = 0; i < 3; i++) times.push(await curlSeconds(args));
  return (body.length * 8) / median(times) / 1e9;
}

/** SOCKS5 (no auth, CONNECT 127.0.0.1:echo) then one echoed byte; ms. `plain`: no SOCKS5. */
function openOnce(socksPort, plain = false) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const s = connect(socksPort ?? echoPort, '127.0.0.1');
    s.on('error', reject);
    // A refused or failed open (the proxy closes after its failure reply) rejects.
    s.on('close', () => reject(new Error('closed before the echo')));
    let stage = socksPort === null || plain ? 2 : 0;
    let buf = Buffer.alloc(0);
    s.on('connect', () => {
      if (stage === 2) s.write('x');
      else {
        const req = Buffer.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, echoPort >> 8, echoPort & 255]);
        s.write(req);
      }
    });
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (stage === 0 && buf.length >= 12) {
        if (buf[3] !== 0) {
          s.destroy();
          reject(new Error(`SOCKS5 reply ${buf[3]}`));
          return;
        }
        buf = buf.subarray(12);
        stage = 2;
        s.write('x');
      }
      if (stage === 2 && buf.length >= 1) {
        s.destroy();
        resolve(performance.now() - t0);
      }
    });
  });
}

/** Open times (ms): median and p90 of OPENS opens, one at a time. */
async function openMs(socksPort, plain = false) {
  const xs = [];
  for (let i = 0; i < OPENS; i++) {
    xs.push(await openOnce(socksPort, plain));
    // 30 ms between opens on every row: the pool gets its refill, and the direct row
    // pays the same wake-up from idle as the others (back to back, it measured 0.2 ms
    // instead of 0.4, which inflated every "+ms" by the difference).
    await sleep(30);
  }
  return { median: median(xs), p90: p90(xs) };
}

/** An open's added cost over direct: median − direct median, p90 − direct p90. */
const added = (o, direct) => ({ median: o.median - direct.median, p90: o.p90 - direct.p90 });

/** New connections per second: CONC clients in a loop of open (as openOnce), echo, close. */
async function connsPerSecond(socksPort) {
  const end = performance.now() + RATE_S * 1000;
  let done = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: CONC }, async () => {
      while (performance.now() < end) {
        try {
          await openOnce(socksPort);
          done++;
        } catch {
          failed++;
        }
      }
    }),
  );
  return { rate: done / RATE_S, failed };
}

const rows = [];
const directGbps = await throughput([`http://127.0.0.1:${webPort}/`]);
const directOpen = await openMs(null);
const directRate = await connsPerSecond(null);
rows.push(['direct (curl → backend)', directGbps, null, null, directRate]);
{
  // The floor of any Node.js relay chain on this machine: net.createServer + net.connect +
  // pipe() twice, no product code (bench/lib/node-pipe-proxy.mjs); an open's added time
  // here is what two process hops cost, before any protocol.
  const [b, a, eb, ea] = [await freePort(), await freePort(), await freePort(), await freePort()];
  // Two processes, as the agent and the server are.
  await start(
    [`127.0.0.1:${b}=127.0.0.1:${webPort}`, `127.0.0.1:${eb}=127.0.0.1:${echoPort}`],
    /ready/,
    PIPE_PROXY,
  );
  await start(
    [`127.0.0.1:${a}=127.0.0.1:${b}`, `127.0.0.1:${ea}=127.0.0.1:${eb}`],
    /ready/,
    PIPE_PROXY,
  );
  rows.push([
    'floor: bare Node pipe proxy ×2 (two processes)',
    await throughput([`http://127.0.0.1:${a}/`]),
    added(await openMs(ea, true), directOpen),
    null,
    null,
  ]);
}
{
  // The baseline the issue compares with: two plain TCP relays in a chain.
  const b = await freePort();
  const a = await freePort();
  await start(
    ['simple', '--bind', `127.0.0.1:${b}`, '--backend', `127.0.0.1:${webPort}`],
    /listening on/,
  );
  await start(
    ['simple', '--bind', `127.0.0.1:${a}`, '--backend', `127.0.0.1:${b}`],
    /listening on/,
  );
  // The same chain in front of the echo server, for the open column.
  const eb = await freePort();
  const ea = await freePort();
  await start(
    ['simple', '--bind', `127.0.0.1:${eb}`, '--backend', `127.0.0.1:${echoPort}`],
    /listening on/,
  );
  await start(
    ['simple', '--bind', `127.0.0.1:${ea}`, '--backend', `127.0.0.1:${eb}`],
    /listening on/,
  );
  await sleep(300);
  rows.push([
    'two-hop tcp chain (vproxy simple ×2)',
    await throughput([`http://127.0.0.1:${a}/`]),
    added(await openMs(ea, true), directOpen),
    null,
    null,
  ]);
}
for (const [name, tls, kcp, scheme] of [
  ['ws', false, false, 'websocks'],
  ['wss', true, false, 'websockss'],
  ['kcp', false, true, 'websocks:kcp'],
]) {
  const port = await server(tls, kcp);
  const host = tls ? 'localhost' : '127.0.0.1';
  const unpooled = await agent(`${scheme}://${host}:${port}`, 0);
  const pooled = await agent(`${scheme}://${host}:${port}`, 10);
  const gbps = await throughput([
    '--socks5-hostname',
    `127.0.0.1:${unpooled}`,
    `http://127.0.0.1:${webPort}/`,
  ]);
  const open0 = added(await openMs(unpooled), directOpen);
  const open10 = added(await openMs(pooled), directOpen);
  const rate = await connsPerSecond(pooled);
  rows.push([`agent + server over ${name}`, gbps, open0, open10, rate]);
  if (!tls) {
    // agent.early-reply on: the client is answered once its request is on the tunnel.
    const early = await agent(`${scheme}://${host}:${port}`, 10, true);
    rows.push([
      `… over ${name}, agent.early-reply on`,
      null,
      null,
      added(await openMs(early), directOpen),
      null,
    ]);
  }
}

const f = (x, d) => (x === null ? '—' : x.toFixed(d));
const fo = (o) => (o === null ? '—' : `${o.median.toFixed(2)} / ${o.p90.toFixed(2)}`);
console.log(
  `\nwebsocks agent bench: ${MB} MB transfers (median of 3), ${OPENS} opens (median), loopback`,
);
const chain = rows.find(([name]) => name.startsWith('two-hop tcp chain'))[1];
console.log(
  '| path | Gbit/s | × direct | × two-hop tcp | open, unpooled (+ms median / p90) | open, pooled (+ms median / p90) | new conns/s (pooled) |',
);
console.log('|---|---|---|---|---|---|---|');
for (const [name, g, o0, o10, rate] of rows) {
  console.log(
    `| ${name} | ${f(g, 2)} | ${f(g === null ? null : g / directGbps, 2)} | ${f(g === null ? null : g / chain, 2)} | ${fo(o0)} | ${fo(o10)} | ${rate === null ? '—' : `${rate.rate.toFixed(0)}${rate.failed > 0 ? ` (${rate.failed} failed)` : ''}`} |`,
  );
}
console.log(
  `(direct open: ${directOpen.median.toFixed(2)} ms median, ${directOpen.p90.toFixed(2)} ms p90, subtracted from the open columns; an open is connect, SOCKS5 CONNECT and one echoed byte, the chain's without SOCKS5; conns/s: ${CONC} clients for ${RATE_S} s)`,
);
for (const c of children) c.kill();
web.close();
echo.close();
