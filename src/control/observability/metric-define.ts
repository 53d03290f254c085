import { Counter, Gauge, type Registry } from 'prom-client';

// How every vproxy metric is made: read from the resource store at scrape
// time (nothing in the data path pushes), shared by metrics.ts and
// metrics-mesh.ts.

export type Kind = 'counter' | 'gauge';

export type Emit = (labels: Record<string, string>, value: number) => void;

/**
 * A metric whose values are replaced at every collect: a counter is reset and
 * incremented by the store's total (so it shows exactly the monotonic total it
 * mirrors), a gauge is set. Series of resources that are gone disappear.
 */
export function define(
  kind: Kind,
  name: string,
  help: string,
  labelNames: string[],
  registers: Registry[],
  fill: (emit: Emit) => void,
): void {
  if (kind === 'counter') {
    new Counter({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        fill((labels, value) => this.inc(labels, value));
      },
    });
    return;
  }
  new Gauge({
    name,
    help,
    labelNames,
    registers,
    collect() {
      this.reset();
      fill((labels, value) => this.set(labels, value));
    },
  });
}
