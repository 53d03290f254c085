// Adversarial matrix (issue 10): what a client without any password can cost a running
// daemon. For each attack a FRESH daemon process (`node dist/apps/vproxy.js`, so one row's
// leftovers never skew the next) gets the same setup through redis-cli — tcp-lbs on tcp://,
// ws://, tls://, kcp:// without and with a key, a socks5-server — in front of an echo
// backend in a process of its own (so its fds are not counted as the daemon's). Then one
// attack, bounded in count and time, on loopback, while a legitimate client keeps making
// requests to the attacked listener (or controller), from a process of its own so the
// attack's event loop does not slow it down. Per row: the daemon's fds and RSS
// before / peak / after, how long they took to come back once the attack stopped, the
// legitimate client's latency (p50 / p99) and success rate, and attack-specific notes
// (how many half-open connections the daemon closed itself, and when).
//
// Output: a Markdown table on stdout, JSON in bench/results/adversarial.json.
// Run: npm run bench:adversarial     (builds nothing: uses dist/, like the other benches)
// Knobs: ADV_DIST=<a dist/ dir> (default ../dist), ADV_LABEL=<what that build is>,
//        ADV_ROWS=flood-resp,idle-10k (keys below), ADV_FLOOD_N (5000), ADV_IDLE_N (10000),
//        ADV_HALF_OPEN_N (1000), ADV_SLOWLORIS_N (200), ADV_HOLD_MS (13000).
// Needs redis-cli and openssl on PATH. As root, fd limits are raised to 65,536 with
// prlimit (the 10,000-connection row needs ~20,000 fds in the daemon).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  connectCloseFlood,
  fdCount,
  fdLimitOf,
  fmtMB,
  holdPartial,
  kcpForge,
  neverReading,
  openIdle,
  raiseFdLimit,
  rssOf,
  startLegitClient,
  Watch,
} from './lib/attacks.mjs';
import { selfSignedCert } from './lib/certs.mjs';
import {
  freePort,
  HOST,
  log,
  machineLine,
  makeTempDir,
  requireTool,
  runMain,
  sleep,
  startChild,
  stopChild,
  waitListening,
  waitOutput,
} from './lib/procs.mjs';

// ADV_DIST points at another build (e.g. of an older commit, for "before" figures);
// ADV_LABEL says in the report which code that is.
const DIST = process.env.ADV_DIST
  ? resolve(process.env.ADV_DIST)
  : fileURLToPath(new URL('../dist/', import.meta.url));
const VPROXY = join(DIST, 'apps/vproxy.js');
const REGISTRY = pathToFileURL(join(DIST, 'transports/default-registry.js'));
const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));
const PASSWORD = 'adv-pw';
const TOKEN = 'adv-token';
const KCP_KEY = 'adv-kcp-key';
const MB = 1024 * 1024;
const RSS_CAP = 1024 * MB; // the never-reading RESP attack stops here
const HEAP_MB = 512; // --max-old-space-size of the daemon: a runaway heap dies, not the box

const env = (name, dflt) => Number(process.env[name] ?? dflt);
const FLOOD_N = env('ADV_FLOOD_N', 5000);
const IDLE_N = env('ADV_IDLE_N', 10_000);
const HALF_OPEN_N = env('ADV_HALF_OPEN_N', 1000);
const SLOWLORIS_N = env('ADV_SLOWLORIS_N', 200);
const HOLD_MS = env('ADV_HOLD_MS', 13_000);

// A small echo server; its own process so its fds and memory are not the daemon's.
const ECHO_SRC = `
const net = require('node:net');
const server = net.createServer((s) => { s.on('error', () => {}); s.pipe(s); });
server.maxConnections = 1 << 20;
server.listen(Number(process.argv[1]), '127.0.0.1', () => console.log('ready'));
`;

// What a partial handshake looks like on each listener: `first` goes out at once;
// slowloris then sends one byte of `trickle` a second, which never completes it.
const TLS_RECORD_START = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]);
const PARTIAL = {
  resp: {
    // An AUTH whose 512-byte password arrives one byte a second.
    first: Buffer.from('*2\r\n$4\r\nAUTH\r\n$512\r\n'),
    trickle: Buffer.alloc(512, 'a'),
  },
  http: {
    first: Buffer.from('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n'),
    trickle: Buffer.from('X-Slow: 1\r\n'),
  },
  socks5: {
    // Version 5, 255 methods announced; the method bytes trickle.
    first: Buffer.from([0x05, 0xff]),
    trickle: Buffer.alloc(255, 0x80),
  },
  ws: {
    first: Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n'),
    trickle: Buffer.from('X-Slow: 1\r\n'),
  },
  tls: {
    // A TLS record header announcing a 512-byte ClientHello, and its handshake header.
    first: TLS_RECORD_START,
    trickle: Buffer.alloc(512, 0x03),
  },
};

let echoPort;
let workDir;

async function startDaemon() {
  const ports = {};
  for (const k of ['resp', 'http', 'tcp', 'ws', 'tls', 'kcp', 'kcpKey', 's5']) {
    ports[k] = await freePort();
  }
  const configDir = join(workDir, `cfg-${Date.now()}`);
  const child = startChild('vproxy daemon', process.execPath, [
    `--max-old-space-size=${HEAP_MB}`,
    VPROXY,
    '--no-stdio',
    '--no-save',
    '--no-load-last',
    '--config-dir',
    configDir,
    '--resp-controller',
    `${HOST}:${ports.resp}`,
    '--resp-password',
    PASSWORD,
    '--http-controller',
    `${HOST}:${ports.http}`,
    '--http-token',
    TOKEN,
  ]);
  await waitOutput(child, /started; type/);
  raiseFdLimit(child.proc.pid);
  const setup = [
    'add server-group sg0 timeout 500 period 1000 up 1 down 1 method wrr check none',
    `add server s0 to server-group sg0 address ${HOST}:${echoPort} weight 10`,
    'add upstream ups0',
    'add server-group sg0 to upstream ups0 weight 10',
    `add tcp-lb lb-tcp address tcp://${HOST}:${ports.tcp} upstream ups0`,
    `add tcp-lb lb-ws address ws://${HOST}:${ports.ws} upstream ups0`,
    `add cert-key ck0 cert ${join(workDir, 'cert.pem')} key ${join(workDir, 'key.pem')}`,
    `add tcp-lb lb-tls address tls://${HOST}:${ports.tls} upstream ups0 cert-key ck0`,
    `add tcp-lb lb-kcp address kcp://${HOST}:${ports.kcp} upstream ups0`,
    `add tcp-lb lb-kcp-key address kcp://${HOST}:${ports.kcpKey}?key=${KCP_KEY} upstream ups0`,
    `add socks5-server s5 address ${HOST}:${ports.s5} upstream ups0`,
  ];
  const out = await redisCliBatch(ports.resp, setup);
  const answers = out.split('\n').filter((l) => l.length > 0);
  if (answers.length !== setup.length || answers.some((l) => l !== 'OK')) {
    throw new Error(
      `daemon setup failed:\n${setup.map((c, i) => `${c} -> ${answers[i]}`).join('\n')}`,
    );
  }
  await sleep(300); // let start-up garbage settle before the baseline
  return { child, pid: child.proc.pid, ports };
}

/** Every setup command through one redis-cli (it reads one command per stdin line). */
function redisCliBatch(port, lines) {
  return new Promise((resolve, reject) => {
    const p = spawn('redis-cli', ['-p', String(port), '-a', PASSWORD, '--no-auth-warning'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (c) => {
      out += c;
    });
    p.stderr.setEncoding('utf8').on('data', (c) => {
      out += c;
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), 10_000);
    p.on('error', reject);
    p.on('exit', () => {
      clearTimeout(timer);
      resolve(out);
    });
    p.stdin.end(`${lines.join('\n')}\n`);
  });
}

/** What the legitimate client does during an attack on `target` (see makeProbe). */
function probeFor(target, ports) {
  const transport = (address) => ({ kind: 'transport', address, registry: REGISTRY.href });
  switch (target) {
    case 'resp':
      return { kind: 'resp', port: ports.resp, password: PASSWORD };
    case 'http':
      return { kind: 'http', port: ports.http, token: TOKEN };
    case 'tcp':
      return { kind: 'tcp', port: ports.tcp };
    case 'tls':
      return { kind: 'tls', port: ports.tls };
    case 'socks5':
      return { kind: 'socks5', port: ports.s5, target: echoPort };
    case 'ws':
      return transport(`ws://${HOST}:${ports.ws}`);
    case 'kcp':
      // session-idle=1: the client session closes right after each probe, so every probe
      // is a new session start — the thing the forged datagrams compete with.
      return transport(`kcp://${HOST}:${ports.kcp}?session-idle=1`);
    case 'kcpKey':
      return transport(`kcp://${HOST}:${ports.kcpKey}?key=${KCP_KEY}&session-idle=1`);
    default:
      throw new Error(`no probe for ${target}`);
  }
}

const portOf = (target, ports) => (target === 'socks5' ? ports.s5 : ports[target]);

/** The rows, in the order they run. `run` returns notes; probes run while it does. */
function rows() {
  const list = [];
  for (const target of ['resp', 'http', 'tcp', 'ws', 'tls', 'socks5']) {
    list.push({
      key: `flood-${target}`,
      attack: 'connect/close flood',
      target,
      load: `${FLOOD_N} conns, 200 at a time`,
      run: async ({ ports }) => {
        const r = await connectCloseFlood(portOf(target, ports), FLOOD_N);
        return { ...r, note: `${r.made} made, ${r.failed} failed, in ${r.ms} ms` };
      },
    });
  }
  list.push({
    key: 'never-read-resp',
    attack: 'never-reading clients',
    target: 'resp',
    load: '4 conns pipelining PING (no AUTH) 20 s, stop at RSS 1 GB',
    run: async ({ ports, pid }) => {
      const chunk = Buffer.from('PING\r\n'.repeat(1024));
      const r = await neverReading(ports.resp, chunk, {
        conns: 4,
        durationMs: 20_000,
        abort: () => !(rssOf(pid) < RSS_CAP), // NaN (daemon died) stops too
      });
      return {
        ...r,
        note:
          `sent ${r.writtenMB.toFixed(0)} MB in ${(r.ms / 1000).toFixed(1)} s` +
          (r.aborted ? ', stopped: RSS cap or daemon gone' : '') +
          `, ${r.closedByPeer}/4 closed by the daemon`,
      };
    },
  });
  list.push({
    key: 'never-read-http',
    attack: 'never-reading clients',
    target: 'http',
    load: '4 conns pipelining GET /healthz 15 s, stop at RSS 1 GB',
    run: async ({ ports, pid }) => {
      const chunk = Buffer.from('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'.repeat(64));
      const r = await neverReading(ports.http, chunk, {
        conns: 4,
        durationMs: 15_000,
        abort: () => !(rssOf(pid) < RSS_CAP),
      });
      return {
        ...r,
        note:
          `sent ${r.writtenMB.toFixed(1)} MB in ${(r.ms / 1000).toFixed(1)} s` +
          (r.aborted ? ', stopped: RSS cap or daemon gone' : '') +
          `, ${r.closedByPeer}/4 closed by the daemon`,
      };
    },
  });
  for (const target of ['resp', 'http', 'socks5', 'ws', 'tls']) {
    list.push({
      key: `slowloris-${target}`,
      attack: 'slowloris (1 byte/s)',
      target,
      load: `${SLOWLORIS_N} conns, ${HOLD_MS / 1000} s cap`,
      run: async ({ ports }) =>
        holdNotes(
          await holdPartial(portOf(target, ports), {
            n: SLOWLORIS_N,
            ...PARTIAL[target],
            capMs: HOLD_MS,
          }),
        ),
    });
  }
  for (const target of ['resp', 'http', 'socks5', 'ws', 'tls']) {
    list.push({
      key: `half-open-${target}`,
      attack: 'half-open handshakes',
      target,
      load: `${HALF_OPEN_N} conns, ${HOLD_MS / 1000} s cap`,
      run: async ({ ports }) =>
        holdNotes(
          await holdPartial(portOf(target, ports), {
            n: HALF_OPEN_N,
            first: PARTIAL[target].first,
            capMs: HOLD_MS,
          }),
        ),
    });
  }
  list.push({
    key: 'idle-10k',
    attack: `${IDLE_N} idle conns through a tcp-lb`,
    target: 'tcp',
    load: `${IDLE_N} conns, held 3 s`,
    run: async ({ pid, ports, watch }) => {
      const rss0 = watch.before.rss;
      const fds0 = watch.before.fds;
      // The daemon holds 2 fds per proxied connection: stay under its limit (20,000 here,
      // and only root with CAP_SYS_RESOURCE can raise it), or the row measures EMFILE.
      const limit = fdLimitOf(pid);
      const n = Math.min(IDLE_N, Math.floor((limit - fds0 - 200) / 2));
      const r = await openIdle(ports.tcp, n);
      await sleep(3000);
      const rss1 = rssOf(pid);
      const fds1 = fdCount(pid);
      const held = r.sockets.length;
      for (const s of r.sockets) s.destroy();
      const perConn = held > 0 ? (rss1 - rss0) / held : Number.NaN;
      return {
        opened: held,
        failed: r.failed,
        openMs: r.ms,
        rssPerConnKB: perConn / 1024,
        fdsPerConn: held > 0 ? (fds1 - fds0) / held : Number.NaN,
        note:
          `${held} open (${r.failed} failed) in ${(r.ms / 1000).toFixed(1)} s` +
          (n < IDLE_N ? ` (${n} asked: the daemon's fd limit is ${limit})` : '') +
          '; ' +
          `**${(perConn / 1024).toFixed(1)} KB RSS/conn**, ${((fds1 - fds0) / Math.max(held, 1)).toFixed(2)} fds/conn`,
      };
    },
  });
  for (const keyed of [false, true]) {
    list.push({
      key: keyed ? 'kcp-forge-key' : 'kcp-forge-nokey',
      attack: keyed ? 'forged KCP datagrams (random)' : 'forged KCP session starts',
      target: keyed ? 'kcpKey' : 'kcp',
      load: '1000 src ports x 2 dgrams/s, 10 s',
      run: async ({ ports }) => {
        const r = await kcpForge(keyed ? ports.kcpKey : ports.kcp, { keyed, durationMs: 10_000 });
        return { ...r, note: `${r.sent} datagrams sent, ${r.replies} answered` };
      },
    });
  }
  return list;
}

function holdNotes(r) {
  const s = (ms) => (ms === null ? '-' : `${(ms / 1000).toFixed(1)} s`);
  return {
    ...r,
    note:
      `${r.n} opened${r.refused ? `, ${r.refused} refused` : ''}; daemon closed ` +
      `${r.closedByServer}/${r.n} (median ${s(r.closeMedianMs)}, max ${s(r.closeMaxMs)}); ` +
      `${r.heldAtCap} still open at ${s(HOLD_MS)}`,
  };
}

async function runRow(row) {
  log(`== ${row.key}: ${row.attack} on ${row.target} (${row.load})`);
  const daemon = await startDaemon();
  const legit = await startLegitClient(probeFor(row.target, daemon.ports));
  const watch = new Watch(daemon.pid);
  let result;
  let legitStats;
  try {
    result = await row.run({ ...daemon, watch });
  } finally {
    legitStats = await legit.stop();
  }
  watch.stop();
  const recovery = await watch.recover({ timeoutMs: 8000 });
  const exit = daemon.child.exit;
  await stopChild(daemon.child);
  const record = {
    key: row.key,
    attack: row.attack,
    target: row.target,
    load: row.load,
    fds: { before: watch.before.fds, peak: watch.peak.fds, after: watch.after.fds },
    rssMB: {
      before: watch.before.rss / MB,
      peak: watch.peak.rss / MB,
      after: watch.after.rss / MB,
    },
    recovery,
    legit: legitStats,
    result,
    daemonExit: exit,
  };
  log(`   ${result.note}`);
  log(
    `   fds ${record.fds.before}/${record.fds.peak}/${record.fds.after}, RSS ${fmtMB(watch.before.rss)}/${fmtMB(watch.peak.rss)}/${fmtMB(watch.after.rss)} MB, ` +
      `legit ${legitStats.ok}/${legitStats.attempts} p50 ${legitStats.p50?.toFixed(1)} p99 ${legitStats.p99?.toFixed(1)} ms`,
  );
  return record;
}

const ms = (v) => (v === null || v === undefined ? '-' : v.toFixed(1));
const sec = (v, waited) =>
  v === null ? `not in ${(waited / 1000).toFixed(0)} s` : `${(v / 1000).toFixed(1)} s`;
const mb = (v) => (Number.isNaN(v) ? 'gone' : v.toFixed(0));

function markdown(records) {
  const lines = [
    '| attack | target | load | daemon fds before / peak / after | RSS MB before / peak / after | recovered: fds / RSS | legit p50 / p99 ms | legit ok | notes |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of records) {
    const died = r.daemonExit
      ? ` **daemon died (${r.daemonExit.signal ?? `exit ${r.daemonExit.code}`})**`
      : '';
    const l = r.legit;
    lines.push(
      `| ${r.attack} | ${r.target} | ${r.load} | ${r.fds.before} / ${r.fds.peak} / ${Number.isNaN(r.fds.after) ? 'gone' : r.fds.after} ` +
        `| ${mb(r.rssMB.before)} / ${mb(r.rssMB.peak)} / ${mb(r.rssMB.after)} ` +
        `| ${sec(r.recovery.fdMs, r.recovery.waitedMs)} / ${sec(r.recovery.rssMs, r.recovery.waitedMs)} ` +
        `| ${ms(l.p50)} / ${ms(l.p99)} | ${l.ok}/${l.attempts} | ${r.result.note}${died} |`,
    );
  }
  return lines.join('\n');
}

function label() {
  if (process.env.ADV_LABEL) return process.env.ADV_LABEL;
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    return `${DIST} built from the working tree at ${head}`;
  } catch {
    return DIST;
  }
}

async function main() {
  requireTool('redis-cli', ['--version'], 'redis-tools');
  requireTool('openssl', ['version'], 'openssl');
  if (!existsSync(VPROXY)) throw new Error(`${VPROXY} missing; run npm run build first`);
  const selfRaised = raiseFdLimit(process.pid);
  workDir = makeTempDir('vproxy-adv-');
  selfSignedCert(workDir);

  echoPort = await freePort();
  const echo = startChild('echo backend', process.execPath, ['-e', ECHO_SRC, String(echoPort)]);
  await waitOutput(echo, /^ready$/m);
  await waitListening(echo, echoPort);
  raiseFdLimit(echo.proc.pid);

  const wanted = process.env.ADV_ROWS?.split(',').filter(Boolean);
  const all = rows();
  const unknown = wanted?.filter((k) => !all.some((r) => r.key === k)) ?? [];
  if (unknown.length > 0) throw new Error(`ADV_ROWS: no row ${unknown.join(', ')}`);
  const selected = wanted ? all.filter((r) => wanted.includes(r.key)) : all;

  const t0 = Date.now();
  const records = [];
  for (const row of selected) records.push(await runRow(row));
  const header = [
    `# Adversarial matrix — ${new Date().toISOString()}`,
    '',
    `code: ${label()}; ${machineLine()}; daemon: node --max-old-space-size=${HEAP_MB}, fresh process per row; ` +
      `fd limits raised to 65536 with prlimit: ${selfRaised ? 'yes' : `no (not permitted here; hard limit ${fdLimitOf(process.pid)})`}; ` +
      `total ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    '',
    'fds/RSS: the daemon process, from /proc. "recovered": time after the attack stopped until fds were within 3 of the baseline ' +
      '/ RSS within 24 MB of it (waited at most 8 s). Legit client (a process of its own): back-to-back requests to the attacked listener ' +
      '(RESP: AUTH+PING; HTTP: GET /healthz; tcp/tls/ws/socks5/kcp: a new connection through it to the echo backend and one echo), 2-3 s timeout each. ' +
      'Half-open/slowloris rows: the attacker holds each connection until the daemon closes it or the cap, then closes it itself. ' +
      'PROXY protocol: no listener option for it in the command language, so no row.',
    '',
  ].join('\n');
  const table = markdown(records);
  console.log(`${header}\n${table}`);
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(
    join(RESULTS, 'adversarial.json'),
    `${JSON.stringify({ date: new Date().toISOString(), machine: machineLine(), records }, null, 2)}\n`,
  );
}

await runMain(main);
