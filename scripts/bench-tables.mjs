// The README's performance tables, rendered from bench/results/<name>.json (what
// each bench writes) between `<!-- bench:<name>:start -->` and
// `<!-- bench:<name>:end -->`. Used by scripts/gen-bench-tables.mjs (`npm run docs`)
// and by test/unit/bench-tables.test.ts, which fails while README and JSON disagree.
import { readFileSync } from 'node:fs';

export const RESULTS_DIR = new URL('../bench/results/', import.meta.url);

const MARKER = /<!-- bench:([a-z0-9-]+):start -->/g;

export const startMarker = (name) => `<!-- bench:${name}:start -->`;
export const endMarker = (name) => `<!-- bench:${name}:end -->`;

/** The bench names that have a marked table in `readme`, in order. */
export function benchNamesIn(readme) {
  return [...readme.matchAll(MARKER)].map((m) => m[1]);
}

export function loadResults(name) {
  return JSON.parse(readFileSync(new URL(`${name}.json`, RESULTS_DIR), 'utf8'));
}

/** Where and when the figures come from: the machine and date, or how they were pasted. */
function provenance(json) {
  const m = json.machine ?? {};
  if (json.source === 'measured') {
    return `${m.cpu}, ${m.cores} cores, node ${m.node}, ${json.date.slice(0, 10)}`;
  }
  const when = json.measured ? `measured ${json.measured}` : 'date unknown';
  return `${m.description ?? 'machine unknown'}, ${when} (${json.source})`;
}

/** Run count and length, and any BENCH_* settings that made it a smoke run. */
function runsText(json) {
  let text = `median of ${json.runs} run${json.runs === 1 ? '' : 's'}`;
  if (json.seconds !== undefined) text += ` × ${json.seconds} s`;
  const settings = Object.entries(json.settings ?? {});
  if (settings.length > 0) text += `; settings ${settings.map(([k, v]) => `${k}=${v}`).join(' ')}`;
  return text;
}

/** The markdown between one bench's markers (no leading or trailing newline). */
export function renderBenchTable(json) {
  const t = json.table;
  const row = (cells) => `| ${cells.join(' | ')} |`;
  const lines = [
    `${t.caption} — ${provenance(json)}; ${runsText(json)}:`,
    '',
    row(t.columns),
    row(t.columns.map((_, i) => (i === 0 ? '---' : '---:'))),
    ...t.rows.map(row),
  ];
  for (const note of t.notes ?? []) lines.push('', note);
  return lines.join('\n');
}

/** `readme` with every marked table replaced by its rendering from `load(name)`. */
export function regenerateBenchTables(readme, load = loadResults) {
  let out = readme;
  for (const name of benchNamesIn(readme)) {
    const start = startMarker(name);
    const end = endMarker(name);
    const from = out.indexOf(start);
    const to = out.indexOf(end);
    if (to < from) throw new Error(`README.md: ${start} without ${end} after it`);
    out = `${out.slice(0, from + start.length)}\n${renderBenchTable(load(name))}\n${out.slice(to)}`;
  }
  return out;
}
