import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  type BenchResults,
  benchNamesIn,
  endMarker,
  loadResults,
  RESULTS_DIR,
  renderBenchTable,
  startMarker,
} from '../../scripts/bench-tables.mjs';

// The README's performance tables are generated from bench/results/<name>.json
// (`npm run docs` after a bench run), never pasted: each marked block must be
// exactly what its JSON renders to, with the machine, date and run count.

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README performance tables', () => {
  it('has the lb and kcp tables between markers', () => {
    expect(benchNamesIn(readme)).toEqual(expect.arrayContaining(['lb', 'kcp']));
  });

  for (const name of benchNamesIn(readme)) {
    it(`${name}: the block is what bench/results/${name}.json renders to (run \`npm run docs\`)`, () => {
      const start = `${startMarker(name)}\n`;
      const from = readme.indexOf(start);
      const to = readme.indexOf(`\n${endMarker(name)}`);
      expect(from).toBeGreaterThanOrEqual(0);
      expect(to).toBeGreaterThan(from);
      expect(readme.slice(from + start.length, to)).toBe(renderBenchTable(loadResults(name)));
    });
  }

  it('every results file with a table says where its figures come from', () => {
    // (Other JSON there, e.g. bench:adversarial's records, has its own format.)
    const tables = readdirSync(RESULTS_DIR)
      .filter((f) => f.endsWith('.json'))
      .map((file) => ({
        file,
        json: JSON.parse(readFileSync(new URL(file, RESULTS_DIR), 'utf8')) as BenchResults,
      }))
      .filter(({ json }) => json.table !== undefined);
    expect(tables.map((t) => t.file)).toEqual(expect.arrayContaining(['lb.json', 'kcp.json']));
    for (const { file, json } of tables) {
      expect(json.bench, file).toBe(file.replace(/\.json$/, ''));
      expect(json.runs, file).toBeGreaterThanOrEqual(1);
      expect(
        json.table.rows.every((r) => r.length === json.table.columns.length),
        file,
      ).toBe(true);
      if (json.source === 'measured') {
        // A bench wrote it: the machine facts and the date are all there.
        expect(json.machine, file).toMatchObject({
          cpu: expect.any(String),
          cores: expect.any(Number),
          node: expect.stringMatching(/^v\d+/),
        });
        expect(Number.isNaN(Date.parse(json.date ?? '')), file).toBe(false);
      } else {
        // Figures from before the JSON existed say so, and on what.
        expect(json.source, file).toBe('pasted from README before JSON existed');
        expect(json.machine.description, file).toEqual(expect.any(String));
      }
    }
  });

  it('renders the run count, the smoke settings and a true table', () => {
    const json: BenchResults = {
      bench: 'x',
      source: 'measured',
      date: '2026-12-07T04:00:00.000Z',
      machine: { cpu: 'Some CPU', cores: 2, node: 'v20.0.0', kernel: 'linux 6' },
      runs: 1,
      seconds: 2,
      settings: { BENCH_RUNS: '1', BENCH_SECONDS: '2' },
      table: { caption: '`bench:x`', columns: ['a', 'b'], rows: [['1', '2']] },
    };
    expect(renderBenchTable(json)).toBe(
      [
        '`bench:x` — Some CPU, 2 cores, node v20.0.0, 2026-12-07; median of 1 run × 2 s; settings BENCH_RUNS=1 BENCH_SECONDS=2:',
        '',
        '| a | b |',
        '| --- | ---: |',
        '| 1 | 2 |',
      ].join('\n'),
    );
  });
});
