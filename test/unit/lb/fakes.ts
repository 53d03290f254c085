import { PassThrough } from 'node:stream';
import type { Address } from '../../../src/fd/address.js';
import { Registry } from '../../../src/fd/registry.js';
import { brandStreamFD, type SocketShaped, type StreamFD } from '../../../src/fd/stream-fd.js';
import type { Transport } from '../../../src/fd/transport.js';
import type { Cancel, Clock } from '../../../src/lb/clock.js';
import type { CheckRunOptions, HealthChecker } from '../../../src/lb/health-checkers.js';

interface Task {
  readonly at: number;
  readonly seq: number;
  readonly run: () => void;
  cancelled: boolean;
}

/** Let every pending promise callback run (a macrotask boundary drains all microtasks). */
export const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A clock that only moves when told; tasks run in time order, ties in scheduling order. */
export class FakeClock implements Clock {
  #now = 0;
  #seq = 0;
  #tasks: Task[] = [];

  now(): number {
    return this.#now;
  }

  schedule(delayMs: number, run: () => void): Cancel {
    const task: Task = {
      at: this.#now + Math.max(0, delayMs),
      seq: this.#seq++,
      run,
      cancelled: false,
    };
    this.#tasks.push(task);
    return () => {
      task.cancelled = true;
    };
  }

  /** Tasks scheduled and not yet run or cancelled. */
  get pending(): number {
    return this.#tasks.filter((t) => !t.cancelled).length;
  }

  /** Move time forward by `ms`, running each due task at its own time, promises settling in between. */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    await flush();
    for (;;) {
      this.#tasks = this.#tasks.filter((t) => !t.cancelled);
      this.#tasks.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.#tasks[0];
      if (next === undefined || next.at > end) break;
      this.#tasks.shift();
      this.#now = next.at;
      next.run();
      await flush();
    }
    this.#now = end;
  }
}

export type Outcome = 'ok' | 'fail' | 'hang' | { readonly delayMs: number; readonly ok: boolean };

/** A checker whose results follow a script (then repeat `then`), timed on a fake clock. */
export class ScriptedChecker implements HealthChecker {
  readonly kind = 'tcp';
  readonly starts: number[] = [];
  readonly signals: AbortSignal[] = [];
  #script: Outcome[];

  constructor(
    private readonly clock: FakeClock,
    script: Outcome[] = [],
    public then: Outcome = 'ok',
  ) {
    this.#script = [...script];
  }

  push(...outcomes: Outcome[]): void {
    this.#script.push(...outcomes);
  }

  run(_target: Address, options: CheckRunOptions): Promise<void> {
    this.starts.push(this.clock.now());
    this.signals.push(options.signal);
    const outcome = this.#script.shift() ?? this.then;
    if (outcome === 'ok') return Promise.resolve();
    if (outcome === 'fail') return Promise.reject(new Error('scripted failure'));
    return new Promise<void>((resolve, reject) => {
      if (outcome === 'hang') return; // only the health check's timeout ends it
      this.clock.schedule(outcome.delayMs, () =>
        outcome.ok ? resolve() : reject(new Error('scripted failure')),
      );
    });
  }
}

/**
 * A registry with a `fake` transport: connecting to `fake://host:port`
 * succeeds unless `host` is in `down`. Lets ServerGroup run its real tcp
 * checks (ConnectClient included) with no socket.
 */
export function fakeRegistry(down: Set<string>): Registry {
  const transport: Transport = {
    scheme: 'fake',
    options: [],
    async connect(address: Address): Promise<StreamFD> {
      if (down.has(address.host)) throw new Error(`fake connect to ${address.host} refused`);
      const stream = new PassThrough() as unknown as SocketShaped;
      return brandStreamFD(stream, 'fake');
    },
    async listen(): Promise<never> {
      throw new Error('fake transport does not listen');
    },
  };
  return new Registry().registerTransport(transport);
}

/** A small seeded PRNG (mulberry32), so statistical tests are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Share of each key in `counts` over `total`. */
export function shares(counts: Map<string, number>, total: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of counts) out[k] = v / total;
  return out;
}
