// The markdown report of bench/lb.mjs: medians with ratios to direct and
// TcpLB / HAProxy, the targets, every sample, and every error seen.
import { LbStats } from './lb-stats.mjs';
import { describeWrkErrors, errorCount } from './wrk.mjs';

const fmt = (unit, x) => (unit === 'Gbit/s' ? x.toFixed(2) : Math.round(x).toLocaleString('en-US'));
const ratio = (a, b) => `${(a / b).toFixed(2)}x`;

/** Sums the per-run wrk results of one cell into one error record. */
function sumWrk(runs) {
  const sum = { non2xx: 0, socketErrors: { connect: 0, read: 0, write: 0, timeout: 0 } };
  for (const r of runs) {
    sum.non2xx += r.non2xx;
    for (const k of Object.keys(sum.socketErrors)) sum.socketErrors[k] += r.socketErrors[k];
  }
  return sum;
}

export function printReport(r) {
  // The fourth config, a bare Node pipe proxy, is the floor of any Node proxy.
  const [direct, lb, ha, pipe] = r.configs;
  const out = [
    r.machine,
    r.tools,
    `${r.seconds} s per run, median of ${r.runs} run(s), runs interleaved across configs; loopback 127.0.0.1;` +
      ` wrk -c ${r.wrk.connections} -t ${r.wrk.threads}; nginx 1 worker; HAProxy mode tcp, nbthread 1`,
    '',
    `| test | unit | ${direct} | ${lb} | vs direct | ${ha} | vs direct | ${lb} / ${ha} | ${pipe} | ${lb} / ${pipe} |`,
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const medians = {};
  for (const t of r.tests) {
    const m = Object.fromEntries(r.configs.map((c) => [c, r.median(r.results[t.key][c].samples)]));
    medians[t.key] = m;
    out.push(
      `| ${t.label} | ${t.unit} | ${fmt(t.unit, m[direct])} | ${fmt(t.unit, m[lb])} | ${ratio(m[lb], m[direct])}` +
        ` | ${fmt(t.unit, m[ha])} | ${ratio(m[ha], m[direct])} | **${ratio(m[lb], m[ha])}**` +
        ` | ${fmt(t.unit, m[pipe])} | ${ratio(m[lb], m[pipe])} |`,
    );
  }

  out.push('', `Targets (${lb} / ${ha} >= 1.00):`);
  for (const t of r.tests) {
    const q = medians[t.key][lb] / medians[t.key][ha];
    out.push(`- ${t.label}: ${q.toFixed(2)}x ${q >= 1 ? 'met' : 'NOT met'}`);
  }

  // CPU per unit of work is what a busy, shared machine distorts least.
  out.push(
    '',
    'Proxy CPU (user + system, all threads; median over runs): per unit of work, and busy share of the run',
    '',
    `| test | ${lb} | ${ha} | ${lb} / ${ha} | ${pipe} |`,
    '| --- | ---: | ---: | ---: | ---: |',
  );
  for (const t of r.tests) {
    const perUnit = (c) => {
      const cell = r.results[t.key][c];
      return r.median(cell.cpu.map((cpu, i) => cpu / cell.work[i]));
    };
    const busy = (c) => r.median(r.results[t.key][c].cpu) / r.seconds;
    const unit = (x) =>
      t.unit === 'Gbit/s' ? `${x.toFixed(2)} CPU s/GB` : `${(x * 1e6).toFixed(1)} µs/request`;
    const kernel = (c) => {
      const cell = r.results[t.key][c];
      return r.median(cell.sys.map((sys, i) => sys / cell.cpu[i]));
    };
    const cell = (c) =>
      `${unit(perUnit(c))}, ${(100 * busy(c)).toFixed(0)}% busy, ${(100 * kernel(c)).toFixed(0)}% in kernel`;
    out.push(
      `| ${t.label} | ${cell(lb)} | ${cell(ha)} | ${ratio(perUnit(lb), perUnit(ha))} | ${cell(pipe)} |`,
    );
  }

  // Two cores (issue 16): the 2-process / 2-thread configs against their one-core selves.
  const [, , , , lb2, ha2] = r.configs;
  if (lb2 !== undefined && ha2 !== undefined) {
    out.push(
      '',
      `Two cores: ${lb2} vs ${lb}, ${ha2} vs ${ha} (CPU summed over processes / threads)`,
      '',
      `| test | ${lb2} | vs ${lb} | CPU / unit | ${ha2} | vs ${ha} | CPU / unit |`,
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const t of r.tests) {
      const m = medians[t.key];
      const perUnit = (c) => {
        const cell = r.results[t.key][c];
        const x = r.median(cell.cpu.map((cpu, i) => cpu / cell.work[i]));
        return t.unit === 'Gbit/s' ? `${x.toFixed(2)} s/GB` : `${(x * 1e6).toFixed(1)} µs`;
      };
      out.push(
        `| ${t.label} | ${fmt(t.unit, m[lb2])} | ${ratio(m[lb2], m[lb])} | ${perUnit(lb2)}` +
          ` | ${fmt(t.unit, m[ha2])} | ${ratio(m[ha2], m[ha])} | ${perUnit(ha2)} |`,
      );
    }
  }

  out.push('', 'Samples (run order):');
  for (const t of r.tests) {
    const cells = r.configs.map(
      (c) => `${c} ${r.results[t.key][c].samples.map((x) => fmt(t.unit, x)).join(' / ')}`,
    );
    out.push(`- ${t.label} (${t.unit}): ${cells.join('; ')}`);
  }

  out.push('', 'Errors reported by wrk (summed over runs):');
  for (const t of r.tests.filter((x) => x.backend === 'http')) {
    for (const c of r.configs) {
      const runs = r.results[t.key][c].wrk;
      const sum = sumWrk(runs);
      const requests = runs.reduce((n, x) => n + x.requests, 0);
      const what = errorCount(sum) === 0 ? 'none' : describeWrkErrors(sum);
      out.push(`- ${t.label}, ${c}: ${what} (${requests.toLocaleString('en-US')} requests)`);
    }
  }

  out.push(
    '',
    `${lb} counters per test (summed over runs; \`errors\` = sessions ended by a socket error such as` +
      ' a reset: wrk and iperf3 drop their connections mid-transfer when a run ends, which counts here):',
  );
  for (const t of r.tests) {
    const d = r.lbDeltas[t.key];
    if (!d) continue;
    const failures = LbStats.failures(d) || 'no failures';
    out.push(`- ${t.label}: accepted ${d.accepted.toLocaleString('en-US')}, ${failures}`);
  }
  const alerts = r.lbOutput.split('\n').filter((l) => l.startsWith('!!'));
  if (alerts.length > 0) out.push('', `${lb} alerts:`, ...alerts.map((l) => `- ${l}`));
  for (const [name, lines] of Object.entries(r.logs)) {
    if (lines.length === 0) continue;
    out.push(
      '',
      `${name} log (${lines.length} line(s), first 5):`,
      ...lines.slice(0, 5).map((l) => `- ${l}`),
    );
  }
  console.log(out.join('\n'));
}
