// Network-namespace plumbing for benchmarks that cross an emulated link
// (../shared/tools/linkem.py): commands run inside a namespace, readiness read from the
// namespace's own /proc/PID/net tables, one linkem process per measurement whose drop
// counters are parsed on stop, and a teardown that runs on every exit path.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { log, sleep, startChild, stopChild, waitOutput } from './procs.mjs';

export const LINKEM = fileURLToPath(new URL('../../../shared/tools/linkem.py', import.meta.url));

/** [cmd, args] that run `cmd args` inside namespace `ns` (ip execs it: same pid). */
export const inNs = (ns, cmd, args) => ['ip', ['netns', 'exec', ns, cmd, ...args.map(String)]];

/** Run a short command inside `ns` synchronously; throws with its stderr on failure. */
export function nsExec(ns, cmd, args) {
  const [c, a] = inNs(ns, cmd, args);
  const r = spawnSync(c, a, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} in ${ns}: ${r.stderr || r.error}`);
  return r.stdout.trim();
}

/**
 * Is a socket of `proto` ('tcp' | 'udp') bound to `port` in the namespace of `child`?
 * Read /proc/PID/net/* (that process's namespace) so no probe packet is sent.
 */
function hasSocket(pid, proto, port) {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const table of [proto, `${proto}6`]) {
    let text;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const f = line.trim().split(/\s+/);
      // tcp: LISTEN (0A); udp: any bound socket (07 = unconnected)
      if (f[1]?.endsWith(hex) && (proto === 'udp' || f[3] === '0A')) return true;
    }
  }
  return false;
}

export async function waitSocket(child, proto, port, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!child.exit && !hasSocket(child.proc.pid, proto, port)) {
    if (Date.now() > deadline) throw new Error(`${child.name}: no ${proto} socket on ${port}`);
    await sleep(50);
  }
  if (child.exit) throw new Error(`${child.name} failed to start:\n${child.output.trim()}`);
}

/** A namespace pair joined by linkem's TUN devices; `link.start()` adds the impairments. */
export function makeLink({ nsA, nsB, addrA = '10.77.0.1', addrB = '10.77.0.2', rt = 0 }) {
  const names = [
    '--ns-a',
    nsA,
    '--ns-b',
    nsB,
    '--addr-a',
    `${addrA}/24`,
    '--addr-b',
    `${addrB}/24`,
  ];
  const linkem = (extra) =>
    spawnSync('python3', [LINKEM, ...names, ...extra], { encoding: 'utf8' });

  let torndown = false;
  const teardown = () => {
    if (torndown) return;
    torndown = true;
    if (existsSync(`/run/netns/${nsA}`) || existsSync(`/run/netns/${nsB}`)) linkem(['--teardown']);
  };
  // Synchronous, so it also runs on process.exit() after an interrupt or a crash.
  process.on('exit', teardown);

  const r = linkem(['--setup-only']);
  if (r.status !== 0) throw new Error(`linkem --setup-only failed: ${r.stderr}`);

  return {
    nsA,
    nsB,
    addrA,
    addrB,
    teardown,
    /** Start forwarding with these impairments; returns a handle whose stop() gives counters. */
    async start({ delayMs, rateMbit, lossPct, queueMs = 100, seed = 42 }) {
      const args = [LINKEM, ...names, '--keep', '--seed', seed, '--queue-ms', queueMs];
      args.push('--delay', delayMs, '--rate', rateMbit, '--loss', lossPct);
      if (rt > 0) args.push('--rt', rt);
      const child = startChild(`linkem loss ${lossPct}%`, 'python3', args.map(String));
      await waitOutput(child, /\(pid \d+\)/);
      return {
        child,
        async stop() {
          await stopChild(child);
          return parseLinkSummary(child.output, nsA, nsB);
        },
      };
    },
  };
}

/** Per-direction counters from linkem's exit summary ("A->B: in N pkts/…, lost L (…), queue-drops Q"). */
function parseLinkSummary(output, nsA, nsB) {
  const dir = (from, to) => {
    const m = new RegExp(
      `${from}->${to}: in (\\d+) pkts/\\d+ B, lost (\\d+) .*?queue-drops (\\d+)`,
    ).exec(output);
    if (!m) {
      log(`   (no linkem summary for ${from}->${to})`);
      return null;
    }
    return { pkts: Number(m[1]), lost: Number(m[2]), queueDrops: Number(m[3]) };
  };
  return { ab: dir(nsA, nsB), ba: dir(nsB, nsA) };
}
