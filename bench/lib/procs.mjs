// Process plumbing shared by the benchmarks: free ports, long-running servers whose
// output tail is kept for error reports, readiness via /proc/net/tcp (no probe
// connection, so a server that counts connections sees none from us), client
// processes that are killed on interrupt, and one cleanup path for every exit.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

export const HOST = '127.0.0.1';

const children = new Set(); // long-running servers
const clients = new Set(); // short-lived client processes in flight
const tmpDirs = new Set();
let interrupted = false;

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export const log = (msg) => process.stderr.write(`${msg}\n`);
// The one median of every bench (a true median: even counts average the middle two).
export { median } from './results.mjs';
export const isInterrupted = () => interrupted;

/** Where a login shell finds tools PATH may lack (haproxy and nginx live in /usr/sbin). */
const EXTRA_TOOL_DIRS = ['/usr/sbin', '/sbin', '/usr/local/sbin', '/usr/bin'];

/**
 * Fail early, naming the package, when `cmd` is missing; found only in an sbin
 * dir (as test/helpers/require-tool.ts looks), that dir joins PATH so every
 * later spawn by name finds it too.
 */
export function requireTool(cmd, args, pkg) {
  if (!spawnSync(cmd, args, { stdio: 'ignore' }).error) return;
  const dir = EXTRA_TOOL_DIRS.find((d) => existsSync(join(d, cmd)));
  if (dir === undefined) {
    throw new Error(
      `${cmd} not found on PATH or in ${EXTRA_TOOL_DIRS.join(':')}; install it: apt-get install -y ${pkg}`,
    );
  }
  process.env.PATH = `${process.env.PATH ?? ''}:${dir}`;
  log(`(${cmd} found in ${dir}, which is not on PATH: added)`);
}

/** A private temp dir, removed by the cleanup that `runMain` runs on every exit path. */
export function makeTempDir(prefix = 'vproxy-bench-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tmpDirs.add(dir);
  return dir;
}

/** An ephemeral port: bind port 0, read the number, release it. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Start a long-running child; keep the tail of its output for error reports. */
export function startChild(name, cmd, args, env = process.env) {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  const child = { name, proc, output: '', exit: null, stopping: false };
  const keep = (chunk) => {
    child.output = (child.output + chunk).slice(-4000);
  };
  proc.stdout.setEncoding('utf8').on('data', keep);
  proc.stderr.setEncoding('utf8').on('data', keep);
  proc.on('error', (err) => keep(`spawn error: ${err.message}\n`));
  proc.on('exit', (code, signal) => {
    child.exit = { code, signal };
    children.delete(child);
    if (!child.stopping) log(`!! ${name} exited unexpectedly (${describeExit(child)})`);
  });
  children.add(child);
  return child;
}

const describeExit = (c) => (c.exit.signal ? `signal ${c.exit.signal}` : `code ${c.exit.code}`);
export const childReport = (c) =>
  `${c.name} (${describeExit(c)}), last output:\n${c.output.trim()}`;

/** Is something in LISTEN state on HOST:port? Read /proc so no probe connection is made. */
function isListening(port) {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .some((line) => {
      const f = line.trim().split(/\s+/);
      return f[1] === local && f[3] === '0A';
    });
}

export async function waitListening(child, port, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!isListening(port)) {
    if (child.exit) throw new Error(`failed to start: ${childReport(child)}`);
    if (Date.now() > deadline) throw new Error(`${child.name} not listening on ${port}`);
    await sleep(50);
  }
}

/** Wait until the child's output tail matches `pattern` (a readiness line it prints). */
export async function waitOutput(child, pattern, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(child.output)) {
    if (child.exit) throw new Error(`failed to start: ${childReport(child)}`);
    if (Date.now() > deadline) {
      throw new Error(
        `${child.name} did not print ${pattern} within ${timeoutMs} ms:\n${child.output}`,
      );
    }
    await sleep(50);
  }
}

export async function stopChild(child) {
  if (!child || child.exit) return;
  child.stopping = true;
  const exited = new Promise((resolve) => child.proc.once('exit', resolve));
  child.proc.kill('SIGTERM');
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/** Run a client to completion; resolves (never rejects) with its error, stdout and stderr. */
export function runClient(cmd, args, opts) {
  return new Promise((resolve) => {
    const proc = execFile(cmd, args, opts, (err, stdout, stderr) => {
      clients.delete(proc);
      resolve({ err, stdout, stderr });
    });
    clients.add(proc);
  });
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim() || 100);

/** User + system CPU seconds a child has used so far, all its threads included. */
export function cpuSeconds(child) {
  const { user, system } = cpuTimes(child);
  return user + system;
}

/** User and system (kernel) CPU seconds of a child so far. */
export function cpuTimes(child) {
  const stat = readFileSync(`/proc/${child.proc.pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at field 3.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) / CLK_TCK, system: Number(f[12]) / CLK_TCK }; // fields 14, 15
}

/** cpuTimes of a child plus its own children (a TcpLB's worker processes), now. */
export function cpuTimesTree(child) {
  const sum = cpuTimes(child);
  for (const pid of childPidsOf(child.proc.pid)) {
    try {
      const t = cpuTimes({ proc: { pid } });
      sum.user += t.user;
      sum.system += t.system;
    } catch {
      // exited meanwhile
    }
  }
  return sum;
}

function childPidsOf(ppid) {
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === ppid)
        out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

export function cpuModel() {
  const m = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m);
  return m ? m[1].trim() : 'unknown';
}

export const machineLine = () =>
  `node ${process.version}, CPU: ${cpuModel()}, nproc: ${availableParallelism()}`;

async function cleanup() {
  for (const proc of clients) proc.kill('SIGTERM');
  await Promise.all([...children].map(stopChild));
  for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
  tmpDirs.clear();
}

/**
 * Run a benchmark's main: on success, failure or SIGINT/SIGTERM every child and
 * client is stopped and temp dirs are removed; a failure prints `bench failed: …`
 * and sets exit code 1.
 */
export async function runMain(main) {
  // Last resort if we exit without going through cleanup().
  process.on('exit', () => {
    for (const proc of clients) proc.kill('SIGKILL');
    for (const c of children) c.proc.kill('SIGKILL');
  });
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => {
      interrupted = true;
      log(`\ninterrupted (${sig}), cleaning up`);
      cleanup().finally(() => process.exit(130));
    });
  }
  try {
    await main();
  } catch (err) {
    console.error(`bench failed: ${err.message}`);
    process.exitCode = 1;
  } finally {
    await cleanup();
  }
}
