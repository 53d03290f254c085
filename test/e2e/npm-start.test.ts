import { execFile } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Issue 14: `npm start` rebuilt TypeScript on every start (6.6 s to print
// --version). Its prestart is now scripts/build-if-stale.mjs: tsc runs only
// when a source or tsconfig is newer than dist/.

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = join(ROOT, 'scripts/build-if-stale.mjs');

let tree: string;

/** A project tree of its own: the script, a source, its output, configs, and a fake tsc. */
function makeTree(): string {
  const t = mkdtempSync(join(tmpdir(), 'vproxy-stale-'));
  const put = (rel: string, text: string) => {
    mkdirSync(dirname(join(t, rel)), { recursive: true });
    writeFileSync(join(t, rel), text);
  };
  mkdirSync(join(t, 'scripts'));
  copyFileSync(SCRIPT, join(t, 'scripts/build-if-stale.mjs'));
  put('src/a.ts', 'export const a = 1;\n');
  put('apps/vproxy.ts', '\n');
  put('transports/t.ts', '\n');
  put('tsconfig.json', '{}\n');
  put('tsconfig.build.json', '{}\n');
  put('dist/src/a.js', '');
  put('dist/apps/vproxy.js', '');
  put('dist/transports/t.js', '');
  // The "compiler" records that it ran, and with which arguments.
  put('node_modules/.bin/tsc', `#!/bin/sh\necho "$@" > "${join(t, 'tsc-ran')}"\n`);
  chmodSync(join(t, 'node_modules/.bin/tsc'), 0o755);
  const old = new Date(Date.now() - 60_000);
  for (const f of [
    'src/a.ts',
    'apps/vproxy.ts',
    'transports/t.ts',
    'tsconfig.json',
    'tsconfig.build.json',
  ])
    utimesSync(join(t, f), old, old);
  return t;
}

beforeAll(() => {
  tree = makeTree();
});
afterAll(() => rmSync(tree, { recursive: true, force: true }));

async function prestart(cwd: string): Promise<{ code: number; stderr: string }> {
  try {
    const { stderr } = await run(process.execPath, ['scripts/build-if-stale.mjs'], { cwd });
    return { code: 0, stderr };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

describe('build-if-stale', () => {
  it('does nothing when dist/ is newer than every source and tsconfig', async () => {
    expect(await prestart(tree)).toEqual({ code: 0, stderr: '' });
    expect(existsSync(join(tree, 'tsc-ran'))).toBe(false);
  });

  it('runs tsc -p tsconfig.build.json when a source is newer than its output', async () => {
    const now = new Date();
    utimesSync(join(tree, 'src/a.ts'), now, new Date(now.getTime() + 5_000));
    const r = await prestart(tree);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      /build-if-stale: 1 changed since the last build \(src\/a\.ts\); running tsc/,
    );
    expect(readFileSync(join(tree, 'tsc-ran'), 'utf8').trim()).toBe('-p tsconfig.build.json');
  });

  it('runs tsc when a source has no output yet, or a tsconfig changed', async () => {
    const t = makeTree();
    try {
      writeFileSync(join(t, 'transports/new.ts'), '\n');
      const later = new Date(Date.now() + 5_000);
      utimesSync(join(t, 'tsconfig.build.json'), later, later);
      const r = await prestart(t);
      expect(r.stderr).toMatch(
        /2 changed since the last build \(tsconfig\.build\.json, transports\/new\.ts\)/,
      );
      expect(existsSync(join(t, 'tsc-ran'))).toBe(true);
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  });
});

// `pretest` builds, so dist/ is fresh here unless someone edits sources while
// the tests run; then this check would rebuild dist/ under the other suites'
// feet, so it skips instead (visibly).
const { staleSources } = (await import(pathToFileURL(SCRIPT).href)) as {
  staleSources: () => string[];
};
const staleNow = staleSources();

describe('npm start', () => {
  it.skipIf(staleNow.length > 0)(
    `a start with dist/ up to date does not run tsc${staleNow.length > 0 ? ` (skipped: ${staleNow.length} sources newer than dist/)` : ''}`,
    async () => {
      const t0 = performance.now();
      const { stdout, stderr } = await run('npm', ['start', '--silent', '--', '--version'], {
        cwd: ROOT,
      });
      const ms = Math.round(performance.now() - t0);
      expect(stdout.trim()).toBe('0.1.0');
      expect(stderr).not.toMatch(/running tsc/);
      console.log(`npm start -- --version without a rebuild: ${ms} ms`);
      // tsc alone takes many seconds here; the mtime check, milliseconds.
      expect(ms).toBeLessThan(5_000);
    },
    120_000,
  );
});
