// The TcpLB runner's counters, fetched live: SIGUSR2 makes it print one
// `stats NAME {json}` line per LB (see run-tcp-lb.mjs). Diffing two snapshots
// gives what one measurement did (accepted connections, connect failures…).

const FAILURES = ['noBackend', 'refused', 'connectFailures', 'idleTimeouts', 'errors'];
const COUNTERS = ['accepted', 'bytesIn', 'bytesOut', ...FAILURES];
const TIMEOUT_MS = 5000;

export class LbStats {
  #child;
  #names;
  #latest = {};
  #waiting = null; // { seen: Set, resolve }
  #buffer = '';

  /** `names`: the LBs the runner prints, e.g. ['bench-0', 'bench-1']. */
  constructor(child, names) {
    this.#child = child;
    this.#names = names;
    child.proc.stdout.on('data', (chunk) => this.#onData(chunk));
  }

  #onData(chunk) {
    this.#buffer += chunk;
    const lines = this.#buffer.split('\n');
    this.#buffer = lines.pop() ?? '';
    for (const line of lines) {
      const m = /^stats (\S+) (\{.*\})$/.exec(line);
      if (!m) continue;
      this.#latest[m[1]] = JSON.parse(m[2]);
      const w = this.#waiting;
      if (w) {
        w.seen.add(m[1]);
        if (this.#names.every((n) => w.seen.has(n))) {
          this.#waiting = null;
          w.resolve({ ...this.#latest });
        }
      }
    }
  }

  /** Every LB's stats as of now: { name: ProxyStats }. */
  snapshot() {
    if (this.#waiting) throw new Error('LbStats.snapshot: one at a time');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting = null;
        reject(new Error(`${this.#child.name} printed no stats within ${TIMEOUT_MS} ms`));
      }, TIMEOUT_MS);
      this.#waiting = {
        seen: new Set(),
        resolve: (s) => {
          clearTimeout(timer);
          resolve(s);
        },
      };
      this.#child.proc.kill('SIGUSR2');
    });
  }

  /** Counter increments of LB `name` between two snapshots. */
  static diff(before, after, name) {
    const a = before[name] ?? {};
    const b = after[name] ?? {};
    return Object.fromEntries(COUNTERS.map((k) => [k, (b[k] ?? 0) - (a[k] ?? 0)]));
  }

  static add(sum, delta) {
    if (!sum) return { ...delta };
    return Object.fromEntries(COUNTERS.map((k) => [k, (sum[k] ?? 0) + (delta[k] ?? 0)]));
  }

  /** `connectFailures 3, errors 1`, or '' when the LB counted no failure. */
  static failures(delta) {
    return FAILURES.filter((k) => delta[k])
      .map((k) => `${k} ${delta[k]}`)
      .join(', ');
  }
}
