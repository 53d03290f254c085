// What every benchmark shares about its results: the median, the facts about
// the machine a number was measured on, interleaved runs, and the JSON file in
// bench/results/<name>.json that `npm run docs` turns into the README's tables
// (scripts/bench-tables.mjs renders them; a unit test keeps README and JSON in sync).
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, release } from 'node:os';
import { fileURLToPath } from 'node:url';

export const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

/**
 * The median: the middle value, or the mean of the two middle values for an
 * even count (taking the upper middle biases every even-run table upwards).
 */
export function median(xs) {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** CPU model, cores, node version and kernel: what a figure depends on besides our code. */
export function machineFacts() {
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    node: process.version,
    kernel: `${process.platform} ${release()}`,
  };
}

/**
 * Run `measure(config, run)` for run 1..runs, all configurations inside each run
 * (run 1 of A, B, C, then run 2 of A, B, C…), so drift in what else the machine
 * does hits every configuration alike instead of biasing the ratios. Returns
 * the samples per configuration, in run order.
 */
export async function interleaved(runs, configs, measure) {
  const samples = configs.map(() => []);
  for (let run = 1; run <= runs; run++) {
    for (const [i, config] of configs.entries()) {
      samples[i].push(await measure(config, run));
    }
  }
  return samples;
}

/**
 * Write bench/results/<name>.json: the machine, the date, the run count and
 * length, the README table (`{ caption, columns, rows, notes? }`, cells as
 * markdown text) and the raw results. Returns the path written.
 */
export function writeResults(name, { runs, seconds, table, results }) {
  const json = {
    bench: name,
    source: 'measured',
    date: new Date().toISOString(),
    machine: machineFacts(),
    runs,
    ...(seconds === undefined ? {} : { seconds }),
    // Any BENCH_* override (a smoke run, a subset of tests) is shown next to the table.
    settings: Object.fromEntries(
      Object.entries(process.env).filter(([k]) => k.startsWith('BENCH_') || k.startsWith('KCP_')),
    ),
    table,
    results,
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = `${RESULTS_DIR}${name}.json`;
  writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
  process.stderr.write(`results written to ${file}\n`);
  return file;
}
