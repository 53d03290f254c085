// The accept path, A/B (issue 16 item 3): CPU per new connection and keep-alive
// req/s of TcpLB from this tree and from another build (BEFORE=dir of a built
// checkout), in the same run as the bare Node net+pipe() proxy, `vproxy simple`
// and HAProxy (1 thread). wrk -c 50 -t 2 against nginx: `Connection: close`
// (one connection per request) and keep-alive; runs interleaved, medians of
// BENCH_RUNS (3) × BENCH_SECONDS (5). CPU is the proxy process's user + system
// time over the run (all its threads), per request.
//
// BENCH_PIN=1: each proxy pinned to core 1, wrk and nginx to core 0 (taskset), so
// the proxy's rate is what one core gives it; unpinned, everything shares both.
//
//   npm run build && BEFORE=/tmp/old node bench/accept-ab.mjs
//   (/tmp/old: `git archive OLD | tar -x -C /tmp/old`, node_modules linked, `npx tsc -p tsconfig.build.json`)
// Configs: BENCH_CONFIGS=pipe,haproxy,haproxy-splice,before,tcp-lb,simple,node-floor
// (haproxy-splice: `option splice-auto`; node-floor: bench/lib/node-floor-proxy.mjs, libuv's
// handles with no stream layer, what no Node proxy gets below; neither runs unless named)
// Tests: BENCH_TESTS=close,keepalive
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { haproxyCommand } from './lib/haproxy.mjs';
import { nginxCommand } from './lib/nginx.mjs';
import {
  cpuTimes,
  freePort,
  HOST,
  log,
  machineLine,
  makeTempDir,
  median,
  requireTool,
  runClient,
  runMain,
  sleep,
  startChild,
  waitListening,
  waitOutput,
} from './lib/procs.mjs';
import { errorCount, parseWrk } from './lib/wrk.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const PIN = process.env.BENCH_PIN === '1';
const TESTS = (process.env.BENCH_TESTS ?? 'close,keepalive').split(',');
const BEFORE = process.env.BEFORE;
const CONFIGS = (
  process.env.BENCH_CONFIGS ?? `pipe,haproxy,${BEFORE ? 'before,' : ''}tcp-lb,simple`
)
  .split(',')
  .filter(Boolean);
const here = (p) => fileURLToPath(new URL(p, import.meta.url));

/** Every thread of `pid` onto `cpus` (taskset -a). */
function pin(pid, cpus) {
  const r = spawnSync('taskset', ['-apc', cpus, String(pid)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`taskset -apc ${cpus} ${pid}: ${r.stderr}`);
}

const childrenOf = (pid) =>
  spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter(Boolean)
    .map(Number);

async function startProxy(config, port, backend, dir, backendPort) {
  const arg = `${HOST}:${port}=${backend}`;
  switch (config) {
    case 'pipe':
      return startChild(config, process.execPath, [here('./lib/node-pipe-proxy.mjs'), arg]);
    case 'node-floor':
      return startChild(config, process.execPath, [here('./lib/node-floor-proxy.mjs'), arg]);
    case 'haproxy':
      return startChild(config, ...haproxyCommand(dir, [{ port, backendPort }]));
    case 'haproxy-splice': {
      // HAProxy's best for this load: the kernel moves the bytes when it judges it pays.
      const cfg = `${dir}/haproxy-splice.cfg`;
      writeFileSync(
        cfg,
        `global\n  nbthread 1\n  maxconn 1000\ndefaults\n  mode tcp\n  option splice-auto\n` +
          `  timeout connect 5s\n  timeout client 1m\n  timeout server 1m\n` +
          `listen bench\n  bind ${HOST}:${port}\n  server backend ${HOST}:${backendPort}\n`,
      );
      return startChild(config, 'haproxy', ['-f', cfg, '-db']);
    }
    case 'simple':
      return startChild(config, process.execPath, [
        here('../dist/apps/vproxy.js'),
        'simple',
        '--bind',
        `tcp://${HOST}:${port}`,
        '--backend',
        `tcp://${backend}`,
        '--log-level',
        'warn',
      ]);
    case 'tcp-lb':
    case 'before': {
      const runner =
        config === 'before' ? `${BEFORE}/bench/lib/run-tcp-lb.mjs` : here('./lib/run-tcp-lb.mjs');
      const child = startChild(config, process.execPath, [runner, arg]);
      await waitOutput(child, /^ready$/m);
      return child;
    }
    default:
      throw new Error(`BENCH_CONFIGS: no config ${config}`);
  }
}

async function main() {
  for (const [cmd, args, pkg] of [
    ['haproxy', ['-v'], 'haproxy'],
    ['nginx', ['-v'], 'nginx'],
    ['wrk', ['-v'], 'wrk'],
    ['taskset', ['-V'], 'util-linux'],
  ]) {
    requireTool(cmd, args, pkg);
  }
  if (!existsSync(here('../dist/src/lb/tcp-lb.js'))) throw new Error('run npm run build first');
  if (CONFIGS.includes('before') && !BEFORE) throw new Error('config before needs BEFORE=dir');
  log(machineLine());
  const dir = makeTempDir();
  const httpPort = await freePort();
  const nginx = startChild('nginx', ...nginxCommand(dir, httpPort));
  await waitListening(nginx, httpPort);
  const proxies = [];
  for (const config of CONFIGS) {
    const port = await freePort();
    const child = await startProxy(config, port, `${HOST}:${httpPort}`, dir, httpPort);
    await waitListening(child, port);
    proxies.push({ config, child, port });
  }
  await sleep(300);
  for (const p of proxies) pin(p.child.proc.pid, PIN ? '1' : '0,1');
  for (const pid of [nginx.proc.pid, ...childrenOf(nginx.proc.pid)]) pin(pid, PIN ? '0' : '0,1');

  const cells = new Map();
  for (const test of TESTS) {
    for (let run = 1; run <= RUNS; run++) {
      for (const { config, child, port } of proxies) {
        const args = ['-c', '50', '-t', '2', '-d', `${SECONDS}s`];
        if (test === 'close') args.push('-H', 'Connection: close');
        args.push(`http://${HOST}:${port}/`);
        const before = cpuTimes(child);
        const [cmd, argv] = PIN ? ['taskset', ['-c', '0', 'wrk', ...args]] : ['wrk', args];
        const { err, stdout, stderr } = await runClient(cmd, argv, {
          timeout: (SECONDS + 30) * 1000,
        });
        if (err) throw new Error(`wrk failed: ${err.message}\n${stdout}${stderr}`);
        const after = cpuTimes(child);
        const w = parseWrk(stdout);
        const user = (after.user - before.user) / w.requests;
        const sys = (after.system - before.system) / w.requests;
        const key = `${test}\t${config}`;
        const cell = cells.get(key) ?? { rps: [], cpuUs: [], userUs: [], errors: 0 };
        cells.set(key, cell);
        cell.rps.push(w.rps);
        cell.cpuUs.push((user + sys) * 1e6);
        cell.userUs.push(user * 1e6);
        cell.errors += errorCount(w);
        log(
          `${PIN ? 'pinned' : 'unpinned'} ${test} ${config} run ${run}: ${Math.round(w.rps)} req/s, ` +
            `${((user + sys) * 1e6).toFixed(1)} µs CPU/request (user ${(user * 1e6).toFixed(1)})`,
        );
        await sleep(300);
      }
    }
  }
  console.log(
    `\n${PIN ? 'pinned (proxy on core 1, wrk + nginx on core 0)' : 'unpinned'}, ` +
      `wrk -c 50 -t 2, ${RUNS} × ${SECONDS} s interleaved, medians`,
  );
  console.log(
    '| test | proxy | req/s | CPU µs/request | req per proxy CPU-s | of which user | wrk errors |',
  );
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const [key, c] of cells) {
    const [test, config] = key.split('\t');
    console.log(
      `| ${test} | ${config} | ${Math.round(median(c.rps)).toLocaleString('en-US')} | ` +
        `${median(c.cpuUs).toFixed(1)} | ${Math.round(1e6 / median(c.cpuUs)).toLocaleString('en-US')} | ` +
        `${median(c.userUs).toFixed(1)} | ${c.errors} |`,
    );
  }
}

await runMain(main);
