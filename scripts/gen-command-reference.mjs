// Regenerates the command reference in README.md from the command model.
// Run `npm run docs` after changing src/control/command/*; a unit test fails
// while the README and the model disagree.
import { readFileSync, writeFileSync } from 'node:fs';
import { commandReferenceMarkdown } from '../dist/src/control/command/reference.js';

const START = '<!-- command-reference:start -->';
const END = '<!-- command-reference:end -->';
const readme = readFileSync('README.md', 'utf8');
const from = readme.indexOf(START);
const to = readme.indexOf(END);
if (from < 0 || to < from) throw new Error(`README.md needs the ${START} … ${END} markers`);
const next = `${readme.slice(0, from + START.length)}\n${commandReferenceMarkdown()}\n${readme.slice(to)}`;
writeFileSync('README.md', next);
console.log('README.md: command reference regenerated');
