// Regenerates the README's performance tables from bench/results/*.json.
// Run `npm run docs` after a bench run (each bench writes its JSON); a unit test
// fails while the README and the JSON disagree.
import { readFileSync, writeFileSync } from 'node:fs';
import { benchNamesIn, regenerateBenchTables } from './bench-tables.mjs';

const readme = readFileSync('README.md', 'utf8');
const next = regenerateBenchTables(readme);
writeFileSync('README.md', next);
console.log(`README.md: bench tables regenerated (${benchNamesIn(readme).join(', ') || 'none'})`);
