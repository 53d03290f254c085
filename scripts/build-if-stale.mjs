// `npm start`'s prestart: run tsc only when dist/ is older than the sources.
// A full tsc run costs seconds on every start; comparing mtimes costs
// milliseconds. Stale means: a .ts file under src/, apps/ or transports/ has
// no .js in dist/ or is newer than it, or a tsconfig is newer than the build.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const DIRS = ['src', 'apps', 'transports'];
const CONFIGS = ['tsconfig.json', 'tsconfig.build.json'];

function mtime(file) {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

function* sources(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) yield path;
  }
}

/** The sources whose output is missing or older; empty when dist/ is up to date. */
export function staleSources() {
  const stale = [];
  const entry = mtime(join(root, 'dist/apps/vproxy.js'));
  for (const c of CONFIGS) {
    const m = mtime(join(root, c));
    if (entry === undefined || (m !== undefined && m > entry)) stale.push(c);
  }
  for (const dir of DIRS) {
    for (const file of sources(join(root, dir))) {
      const rel = relative(root, file);
      const out = mtime(join(root, 'dist', rel.replace(/\.ts$/, '.js')));
      if (out === undefined || (mtime(file) ?? 0) > out) stale.push(rel);
    }
  }
  return stale;
}

// Run as a script (prestart); imported (tests), only staleSources is used.
const main =
  process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url;
const stale = main ? staleSources() : [];
if (stale.length > 0) {
  const shown = stale.slice(0, 3).join(', ') + (stale.length > 3 ? ', …' : '');
  console.error(
    `build-if-stale: ${stale.length} changed since the last build (${shown}); running tsc`,
  );
  const tsc = join(root, 'node_modules/.bin/tsc');
  const r = spawnSync(tsc, ['-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
