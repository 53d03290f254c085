// Top self-time functions of a V8 .cpuprofile (from `node --cpu-prof`).
//   node bench/lib/cpuprofile-top.mjs FILE.cpuprofile [N=25]
// Self time of a node = sum of the sample intervals that landed in it; nodes are
// merged by function name + script + line, so one function called from many
// places is one row. Paths are shortened to what follows node_modules/ or dist/.
import { readFileSync } from 'node:fs';

const [file, n = '25'] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: cpuprofile-top.mjs FILE.cpuprofile [N]\n');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const selfUs = new Map();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i];
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}

const short = (url) =>
  url.replace(/^file:\/\//, '').replace(/^.*\/(dist|node_modules)\//, '$1/') || '(native)';
const rows = new Map();
let total = 0;
for (const [id, us] of selfUs) {
  const f = byId.get(id).callFrame;
  const key = `${f.functionName || '(anonymous)'} ${short(f.url)}:${f.lineNumber + 1}`;
  rows.set(key, (rows.get(key) ?? 0) + us);
  total += us;
}
const idle = [...rows].filter(([k]) => k.startsWith('(idle)')).reduce((s, [, us]) => s + us, 0);
process.stdout.write(
  `${file}: ${(total / 1e6).toFixed(2)} s sampled, ${(idle / 1e6).toFixed(2)} s idle` +
    ` (${((100 * idle) / total).toFixed(1)}%)\n| self ms | % of busy | function |\n| ---: | ---: | --- |\n`,
);
for (const [key, us] of [...rows].sort((a, b) => b[1] - a[1]).slice(0, Number(n))) {
  if (key.startsWith('(idle)')) continue;
  const pct = ((100 * us) / (total - idle)).toFixed(1);
  process.stdout.write(`| ${(us / 1000).toFixed(0)} | ${pct} | \`${key}\` |\n`);
}
