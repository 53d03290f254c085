// What logging costs the data plane (issue 14): TcpLB with the access log off and on,
// against the same TcpLB built from an earlier commit (BENCH_BEFORE_DIST: a repo
// checkout with its own dist/, e.g. `git worktree add /tmp/before c75b896 && cd
// /tmp/before && ln -s $PWD/node_modules . && npx tsc -p tsconfig.build.json`).
// wrk -c 50 to nginx, keep-alive and `Connection: close`, BENCH_SECONDS each, runs
// interleaved (run 1 of every config, then run 2…), medians of BENCH_RUNS (default 3).
// Run: npm run build && node bench/logging.mjs
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nginxCommand } from './lib/nginx.mjs';
import {
  freePort,
  HOST,
  log,
  machineLine,
  makeTempDir,
  median,
  requireTool,
  runMain,
  startChild,
  stopChild,
  waitListening,
  waitOutput,
} from './lib/procs.mjs';
import { interleaved, writeResults } from './lib/results.mjs';
import { errorCount, runWrk } from './lib/wrk.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const BEFORE = process.env.BENCH_BEFORE_DIST;
const HERE = fileURLToPath(new URL('./lib/run-tcp-lb.mjs', import.meta.url));

await runMain(async () => {
  requireTool('wrk', ['-v'], 'wrk');
  requireTool('nginx', ['-v'], 'nginx');
  const dir = makeTempDir();
  const nginxPort = await freePort();
  const nginx = startChild('nginx', ...nginxCommand(dir, nginxPort));
  await waitListening(nginx, nginxPort);
  const accessFile = join(dir, 'access.log');
  const configs = [
    ...(BEFORE ? [{ name: 'TcpLB before', script: join(BEFORE, 'bench/lib/run-tcp-lb.mjs') }] : []),
    { name: 'TcpLB, access log off', script: HERE },
    { name: 'TcpLB, access log on', script: HERE, env: { BENCH_ACCESS_LOG: accessFile } },
  ];
  for (const c of configs) {
    if (!existsSync(c.script)) throw new Error(`no ${c.script}`);
  }
  const tests = [
    { key: 'keepalive', label: 'wrk -c 50 keep-alive, req/s', close: false },
    { key: 'close', label: 'wrk -c 50 Connection: close, req/s', close: true },
  ];
  const results = {};
  for (const test of tests) {
    const samples = await interleaved(RUNS, configs, async (c) => {
      const port = await freePort();
      const env = { ...process.env, ...(c.env ?? {}) };
      const args = [c.script, `${HOST}:${port}=${HOST}:${nginxPort}`];
      const child = startChild(c.name, process.execPath, args, env);
      await waitOutput(child, /ready/);
      const r = await runWrk(port, {
        seconds: SECONDS,
        connections: 50,
        threads: 2,
        close: test.close,
      });
      await stopChild(child);
      if (errorCount(r) > 0) log(`!! ${c.name} ${test.key}: ${errorCount(r)} errors`);
      return r.rps;
    });
    results[test.key] = Object.fromEntries(configs.map((c, i) => [c.name, samples[i]]));
  }
  const logLines = existsSync(accessFile) ? statSync(accessFile).size : 0;
  rmSync(dir, { recursive: true, force: true });
  await stopChild(nginx);
  const columns = ['test', ...configs.map((c) => c.name)];
  const rows = tests.map((t) => [
    t.label,
    ...configs.map((c) => Math.round(median(results[t.key][c.name])).toLocaleString('en-US')),
  ]);
  console.log(`${machineLine()}; ${RUNS} interleaved runs of ${SECONDS} s, medians`);
  console.log(`| ${columns.join(' | ')} |`);
  console.log(`| ${columns.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  console.log(`access log written: ${(logLines / 1e6).toFixed(1)} MB`);
  writeResults('logging', {
    runs: RUNS,
    seconds: SECONDS,
    table: { caption: 'What logging costs a TcpLB (wrk to nginx)', columns, rows },
    results,
  });
});
