import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { requireTool, skipNote } from '../helpers/require-tool.js';

// Issue 18's CI check, run as CI runs it: the haproxy interop suite started by
// vitest in a child process (1) with /usr/sbin and /sbin gone from PATH — it must
// still find haproxy and run every test, none skipped; (2) with haproxy hidden
// and CI=true — it must fail, naming the tool, not pass by skipping.

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const SUITE = 'test/integration/protocols/proxy-protocol-haproxy.test.ts';
const haproxy = requireTool('haproxy');

function withoutSbin(path: string): string {
  return path
    .split(':')
    .filter((d) => d !== '' && !/\/sbin\/?$/.test(d))
    .join(':');
}

function runSuite(env: NodeJS.ProcessEnv): { status: number | null; out: string } {
  const r = spawnSync(
    process.execPath,
    [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', SUITE, '--reporter=verbose'],
    {
      cwd: ROOT,
      env: { ...env, NO_COLOR: '1', FORCE_COLOR: '0' },
      encoding: 'utf8',
      timeout: 120_000,
    },
  );
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

describe.skipIf(haproxy.missing)(`requireTool in CI${skipNote(haproxy)}`, () => {
  it('finds haproxy in /usr/sbin when PATH lacks every sbin dir: the suite runs, nothing skipped', () => {
    const path = withoutSbin(process.env.PATH ?? '');
    expect(path.split(':')).not.toContain('/usr/sbin');
    const { status, out } = runSuite({ ...process.env, PATH: path, CI: 'true' });
    // "Tests  N passed (N)": every test of the suite ran and passed.
    const counts = /Tests\s+(\d+) passed \((\d+)\)/.exec(out);
    expect(counts, out).not.toBeNull();
    expect(Number(counts?.[1])).toBeGreaterThan(0);
    expect(counts?.[1]).toBe(counts?.[2]);
    expect(out).not.toMatch(/skipped|SKIPPING/i);
    expect(status, out).toBe(0);
  });

  it('with haproxy hidden and CI=true the suite fails, naming haproxy', () => {
    const { status, out } = runSuite({
      ...process.env,
      PATH: withoutSbin(process.env.PATH ?? ''),
      VPROXY_TOOL_DIRS: '/nonexistent',
      CI: 'true',
    });
    expect(status).not.toBe(0);
    expect(out).toContain('required tool missing in CI: haproxy not found on PATH');
    expect(out).toContain('apt-get install -y haproxy');
  });
});
