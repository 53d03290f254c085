import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { commandReferenceMarkdown } from '../../../src/control/command/reference.js';

describe('README command reference', () => {
  it('is what the command model generates (run `npm run docs` after changing the model)', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const start = '<!-- command-reference:start -->\n';
    const from = readme.indexOf(start);
    const to = readme.indexOf('\n<!-- command-reference:end -->');
    expect(from).toBeGreaterThanOrEqual(0);
    expect(readme.slice(from + start.length, to)).toBe(commandReferenceMarkdown());
  });
});
