// Tables and target checks printed by bench/kcp.mjs (markdown, so they paste into notes).
const NA = 'not available yet';
const ours = (row) => row.path === 'ours';
const unavailableText = (row) => (ours(row) ? NA : 'not available here');

const fixed = (x, digits) => (Number.isFinite(x) ? x.toFixed(digits) : '-');
const seconds = (s, deadline) => (Number.isFinite(s) ? s.toFixed(2) : `>${deadline}`);
const failNote = (r) => (r.failures ? ` (${r.failures} cut by deadline/failed)` : '');

export function printLoopback(loop, bytes) {
  const direct = loop.find((l) => l.path === 'tcp')?.r;
  const lines = [
    `(a) loopback single stream, ${bytes / 1e6} MB per transfer (MB = 10^6 bytes), inside one namespace`,
    '',
    '| path | MB/s | Gbit/s | vs tcp direct | proxy CPU s/GB |',
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  for (const { label, r } of loop) {
    if (r.unavailable || r.failed) {
      lines.push(`| ${label} | ${r.failed ? `failed: ${r.failed}` : NA} | | | |`);
      continue;
    }
    const ratio = direct && !direct.unavailable ? `${(r.mbit / direct.mbit).toFixed(2)}x` : '-';
    lines.push(
      `| ${label}${failNote(r)} | ${fixed(r.mbit / 8, 0)} | ${fixed(r.mbit / 1000, 2)} | ${ratio} | ${r.cpuPerGB === null ? '-' : fixed(r.cpuPerGB, 1)} |`,
    );
  }
  console.log(lines.join('\n'));
}

function dropText(counters) {
  const ab = counters?.ab;
  if (!ab || ab.pkts === 0) return '-';
  const pct = (n) => `${((100 * n) / ab.pkts).toFixed(1)}%`;
  return `${pct(ab.lost)} / ${pct(ab.queueDrops)}`;
}

export function printLink(cells, rows, losses, bytes) {
  const deadline = Number(process.env.BENCH_TIMEOUT_S ?? 60);
  const cell = (row, loss) => cells.find((c) => c.row === row && c.lossPct === loss);
  const mb = bytes / 1e6;
  const lines = [
    `(b) goodput over the emulated link (Mbit/s) and time to move ${mb} MB (s), sender ns A → receiver ns B`,
    '',
    `| path | ${losses.map((l) => `loss ${l}%`).join(' | ')} |`,
    `| --- | ${losses.map(() => '---:').join(' | ')} |`,
  ];
  for (const row of rows) {
    const parts = losses.map((loss) => {
      const r = cell(row, loss)?.r;
      if (!r) return '-';
      if (r.unavailable) return unavailableText(row);
      if (r.failed) return 'failed (see log)';
      return `${fixed(r.mbit, 1)} Mbit/s, ${seconds(r.seconds, deadline)} s`;
    });
    lines.push(`| ${row.label} | ${parts.join(' | ')} |`);
  }
  lines.push(
    '',
    `(b, c) detail: proxy CPU s/GB = utime+stime of both proxy processes per GB moved; link A→B = random loss / tail (queue) drops, share of packets, over all ${'runs'} of the cell`,
    '',
    `| path | loss | goodput Mbit/s | ${mb} MB time s | proxy CPU s/GB | link A→B lost / queue-dropped |`,
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const loss of losses) {
    for (const row of rows) {
      const c = cell(row, loss);
      if (!c) continue;
      const r = c.r;
      if (r.unavailable || r.failed) {
        const text = r.failed ? `failed: ${r.failed}` : unavailableText(row);
        lines.push(`| ${row.label} | ${loss}% | ${text} | | | |`);
        continue;
      }
      const cpu = r.cpuPerGB === null ? '-' : fixed(r.cpuPerGB, 1);
      lines.push(
        `| ${row.label}${failNote(r)} | ${loss}% | ${fixed(r.mbit, 1)} | ${seconds(r.seconds, deadline)} | ${cpu} | ${dropText(c.counters)} |`,
      );
    }
  }
  console.log(lines.join('\n'));
}

/** Evaluate the issue's targets for each of our rows. */
export function printTargets(loop, cells, rows, losses) {
  const lines = ['targets:'];
  const verdict = (ok) => (ok ? 'MET' : 'NOT MET');
  const get = (label, loss) => cells.find((c) => c.row.label === label && c.lossPct === loss)?.r;
  for (const l of loop.filter(ours)) {
    const text = l.r.unavailable
      ? NA
      : l.r.failed
        ? 'NOT MET (failed)'
        : `${verdict(l.r.mbit >= 1000)} (${(l.r.mbit / 1000).toFixed(2)} Gbit/s)`;
    lines.push(`- loopback ≥ 1 Gbit/s, ${l.label}: ${text}`);
  }
  for (const row of rows.filter(ours)) {
    const versus = (other) => {
      const checks = losses.map((loss) => {
        const a = get(row.label, loss);
        const b = get(other, loss);
        if (!a || a.unavailable) return { ok: null, text: `${loss}%: ${NA}` };
        if (a.failed) return { ok: false, text: `${loss}%: failed` };
        if (!b || b.unavailable || b.failed) {
          return { ok: null, text: `${loss}%: ${other} not measured` };
        }
        return {
          ok: a.mbit >= b.mbit,
          text: `${loss}%: ${a.mbit.toFixed(1)} vs ${b.mbit.toFixed(1)}`,
        };
      });
      if (checks.some((c) => c.ok === null && c.text.endsWith(NA))) return NA;
      const known = checks.filter((c) => c.ok !== null);
      const ok = known.length > 0 && known.every((c) => c.ok);
      return `${verdict(ok)} (${checks.map((c) => c.text).join('; ')})`;
    };
    lines.push(`- ${row.label} goodput ≥ kcptun at every loss: ${versus('kcptun fast3')}`);
    lines.push(`- ${row.label} goodput ≥ TCP bbr at every loss: ${versus('TCP bbr')}`);
    const a = get(row.label, 2);
    const cubic = get('TCP cubic', 2);
    let text;
    if (!a || !cubic) text = 'loss 2% not measured';
    else if (a.unavailable) text = NA;
    else if (a.failed || cubic.failed) text = 'NOT MET (failed)';
    else {
      const x = a.mbit / cubic.mbit;
      text = `${verdict(x >= 10)} (${a.mbit.toFixed(1)} vs ${cubic.mbit.toFixed(1)} Mbit/s = ${x.toFixed(1)}x)`;
    }
    lines.push(`- ${row.label} ≥ 10× TCP cubic at 2% loss: ${text}`);
  }
  console.log(lines.join('\n'));
}
