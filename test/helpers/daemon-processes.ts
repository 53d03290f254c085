import { readdirSync, readFileSync } from 'node:fs';
import { HTTP_TOKEN } from './cli.js';

// What the daemon e2e tests with worker processes ask of the machine and of a
// running daemon: its child processes, a condition to wait for, a metric value.

/** Child processes of `pid`, from /proc, sorted. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out.sort();
}

/** Polls `f` every 50 ms until it returns something other than undefined; throws after `ms`. */
export async function waitFor<T>(
  what: string,
  f: () => Promise<T | undefined> | T | undefined,
  ms = 15_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The value of a metric's series whose labels include `label` (the daemon's /metrics). */
export async function metric(
  httpPort: number,
  name: string,
  label: string,
): Promise<number | undefined> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`, {
    headers: { authorization: `Bearer ${HTTP_TOKEN}` },
  });
  const line = (await res.text())
    .split('\n')
    .find((l) => l.startsWith(`${name}{`) && l.includes(label));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}
