import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import {
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The package as a user gets it: `npm pack`, installed into a fresh project in
// a temp dir outside the repo, used only through its `exports`. The examples
// run from that project, so CI (npm test) runs every one of them.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLES = join(ROOT, 'examples');

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run a command to its end (never throws on a non-zero exit: the test reads the code). */
function run(cmd: string, args: readonly string[], cwd: string, timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      // An outer `npm test` tells npm where its project is (npm_config_local_prefix,
      // INIT_CWD, npm_package_*): the inner npm must find the fresh project instead.
      // Its other settings (cache, registry, CA, proxy) still apply.
      { cwd, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env: plainEnv() },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stdout, stderr: err ? `${stderr}\n${err.message}` : stderr });
      },
    );
  });
}

function plainEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    const outerProject =
      /^npm_(?!config_)/i.test(k) ||
      /^(npm_config_local_prefix|npm_config_call|INIT_CWD)$/i.test(k);
    if (!outerProject) env[k] = v;
  }
  return env;
}

function explain(r: Run): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

interface LockEntry {
  readonly version?: string;
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly optionalDependencies?: Readonly<Record<string, string>>;
  readonly [key: string]: unknown;
}

/**
 * The runtime dependency closure of the repo's lockfile, at the same paths:
 * the fresh project installs exactly the versions the repo tests with, and
 * `npm ci --prefer-offline` finds every tarball in the cache the repo's own
 * `npm ci` filled (the network is used only on a miss).
 */
function runtimeClosure(
  packages: Readonly<Record<string, LockEntry>>,
  roots: readonly string[],
): Record<string, LockEntry> {
  const out: Record<string, LockEntry> = {};
  const visit = (from: string, name: string): void => {
    // Node's lookup: from's own node_modules, then each ancestor's.
    let base = from;
    for (;;) {
      const path = `${base === '' ? '' : `${base}/`}node_modules/${name}`;
      const entry = packages[path];
      if (entry !== undefined) {
        if (out[path] !== undefined) return;
        out[path] = entry;
        for (const dep of Object.keys({
          ...entry.dependencies,
          ...entry.optionalDependencies,
        })) {
          visit(path, dep);
        }
        return;
      }
      if (base === '') throw new Error(`package-lock.json has no ${name} for ${from || 'root'}`);
      const cut = base.lastIndexOf('/node_modules/');
      base = cut < 0 ? '' : base.slice(0, cut);
    }
  };
  for (const name of roots) visit('', name);
  return out;
}

/** Imports every entry point and uses a little of each (run in the fresh project). */
const SMOKE = `
import assert from 'node:assert/strict';
import * as main from 'vproxy-ts';
import * as fd from 'vproxy-ts/fd';
import * as transports from 'vproxy-ts/transports';
import * as proxy from 'vproxy-ts/proxy';
import * as lb from 'vproxy-ts/lb';
import * as protocols from 'vproxy-ts/protocols';
import * as control from 'vproxy-ts/control';

const fns = {
  main: [main, ['parseAddress', 'formatAddress', 'Registry', 'createDefaultRegistry', 'VproxyError', 'isVproxyError', 'createLogger']],
  fd: [fd, ['parseAddress', 'Registry', 'brandStreamFD', 'abortStream', 'VproxyError']],
  transports: [transports, ['createDefaultRegistry', 'kcpTransport', 'tlsLayer', 'muxLayer', 'wsLayer']],
  proxy: [proxy, ['ProxyEngine', 'RoundRobinPicker', 'probe']],
  lb: [lb, ['TcpLB', 'Socks5Server', 'ServerGroup', 'Upstream', 'HealthCheckClient', 'SecurityGroup', 'createChecker']],
  protocols: [protocols, ['socks5Connect', 'socks5Handshake', 'encodeProxyHeader', 'readProxyHeader', 'RespReader', 'encodeResp']],
  control: [control, ['StoreExecutor', 'ResourceStore']],
};
for (const [entry, [mod, names]] of Object.entries(fns)) {
  for (const name of names) assert.equal(typeof mod[name], 'function', entry + ': ' + name);
}
// One class, whichever entry it came through.
assert.equal(main.Registry, fd.Registry);
assert.equal(main.createDefaultRegistry, transports.createDefaultRegistry);
assert.equal(typeof transports.tcpTransport.connect, 'function');

const registry = main.createDefaultRegistry();
assert.deepEqual(main.parseAddress('kcp://127.0.0.1:4000'), registry.parse('kcp://127.0.0.1:4000'));
assert.throws(() => main.parseAddress('tcp://nowhere'), (e) => main.isVproxyError(e, 'ERR_ADDRESS_INVALID'));

// The command language without the daemon.
const store = new control.ResourceStore(registry);
const executor = new control.StoreExecutor({ store });
await executor.execute('add upstream pool', 'stdio');
const list = await executor.execute('list upstream', 'stdio');
assert.equal(list.kind, 'list');
assert.deepEqual(list.items, ['pool']);
await store.close();
console.log('every entry point imports');
`;

/** A TypeScript consumer: checked against the declarations `exports` points at. */
const CONSUMER_TS = `
import { createDefaultRegistry, type Address, type StreamFD, type Transport, parseAddress } from 'vproxy-ts';
import { type BackendPicker, ProxyEngine, type ProxyStats } from 'vproxy-ts/proxy';
import { ServerGroup, TcpLB, type TcpLbOptions, Upstream } from 'vproxy-ts/lb';
import { socks5Connect, type Socks5Auth } from 'vproxy-ts/protocols';
import { type CommandResult, StoreExecutor } from 'vproxy-ts/control';

const registry = createDefaultRegistry();
const address: Address = parseAddress('tcp://127.0.0.1:1');
const picker: BackendPicker = { pick: () => ({ address }) };
export async function start(): Promise<ProxyStats> {
  const engine = new ProxyEngine({ server: await registry.listen('tcp://127.0.0.1:0'), registry, picker });
  return engine.stats();
}
const upstream = new Upstream('u');
upstream.add(new ServerGroup({ name: 'g', healthCheck: { timeoutMs: 1, periodMs: 1, up: 1, down: 1, check: { kind: 'none' } } }));
const options: TcpLbOptions = { name: 'lb', address: 'tcp://127.0.0.1:0', upstream, registry };
export const lb: Promise<TcpLB> = TcpLB.start(options);
export const auth: Socks5Auth = { users: { alice: 'secret' } };
export const connect: (fd: StreamFD) => Promise<unknown> = (fd) => socks5Connect(fd, { target: { host: 'a', port: 1 } });
export const transport: Transport = registry.resolve('tcp');
export const result: Promise<CommandResult> = new StoreExecutor({ store: null as never }).execute('list upstream', 'stdio');
// @ts-expect-error a misspelt option is a type error, not a runtime surprise
export const bad: TcpLbOptions = { ...options, upstreams: upstream };
`;

describe('lib/ (the entry points)', () => {
  it('is imported by nothing outside it: the entries sit above every layer', async () => {
    const importers: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await readdir(join(ROOT, dir), { withFileTypes: true })) {
        const path = `${dir}/${entry.name}`;
        if (entry.isDirectory()) await walk(path);
        else if (entry.name.endsWith('.ts')) {
          const text = await readFile(join(ROOT, path), 'utf8');
          if (/from '(\.\.\/)+lib\//.test(text)) importers.push(path);
        }
      }
    };
    for (const dir of ['src', 'transports', 'apps']) await walk(dir);
    expect(importers).toEqual([]);
  });
});

describe('npm pack → a fresh project outside the repo', () => {
  let work = '';
  let app = '';
  let files: string[] = [];

  beforeAll(async () => {
    // npm test's pretest has built dist/; a bare `vitest run` of this file may not have.
    if (!existsSync(join(ROOT, 'dist/lib/index.js'))) {
      const build = await run('npm', ['run', 'build'], ROOT, 120_000);
      expect(build.code, explain(build)).toBe(0);
    }
    work = await mkdtemp(join(tmpdir(), 'vproxy-pack-'));
    // --ignore-scripts: `prepare` would run the whole build again.
    const pack = await run(
      'npm',
      ['pack', '--ignore-scripts', '--json', '--pack-destination', work],
      ROOT,
      60_000,
    );
    expect(pack.code, explain(pack)).toBe(0);
    const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as {
      filename: string;
      integrity: string;
      files: { path: string }[];
    }[];
    if (info === undefined) throw new Error(`npm pack said nothing: ${pack.stdout}`);
    files = info.files.map((f) => f.path);

    const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
      license: string;
      dependencies: Record<string, string>;
    };
    const repoLock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, LockEntry>;
    };
    app = join(work, 'app');
    await mkdir(app);
    const spec = `file:../${info.filename}`;
    await writeFile(
      join(app, 'package.json'),
      JSON.stringify({
        name: 'vproxy-consumer',
        version: '1.0.0',
        private: true,
        type: 'module',
        dependencies: { 'vproxy-ts': spec },
      }),
    );
    await writeFile(
      join(app, 'package-lock.json'),
      JSON.stringify({
        name: 'vproxy-consumer',
        version: '1.0.0',
        lockfileVersion: 3,
        requires: true,
        packages: {
          '': { name: 'vproxy-consumer', version: '1.0.0', dependencies: { 'vproxy-ts': spec } },
          'node_modules/vproxy-ts': {
            version: manifest.version,
            resolved: spec,
            integrity: info.integrity,
            license: manifest.license,
            dependencies: manifest.dependencies,
          },
          ...runtimeClosure(repoLock.packages, Object.keys(manifest.dependencies)),
        },
      }),
    );
    // --ignore-scripts: no native build; bufferutil loads its prebuilt binary at run time.
    const install = await run(
      'npm',
      ['ci', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund'],
      app,
      90_000,
    );
    expect(install.code, explain(install)).toBe(0);
    for (const name of await readdir(EXAMPLES)) {
      if (name.endsWith('.mjs')) await copyFile(join(EXAMPLES, name), join(app, name));
    }
  }, 180_000);

  afterAll(async () => {
    if (work !== '') await rm(work, { recursive: true, force: true });
  });

  it('packs only the built code, docs, examples, README and LICENSE', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'README.md',
        'LICENSE',
        'docs/library.md',
        'dist/lib/index.js',
        'dist/lib/index.d.ts',
        'dist/apps/vproxy.js',
      ]),
    );
    const stray = files.filter(
      (f) =>
        !/^(dist\/(lib|src|transports|apps)\/.*\.(js|d\.ts)|docs\/.*\.md|examples\/.*\.mjs|package\.json|README\.md|LICENSE)$/.test(
          f,
        ),
    );
    expect(stray, 'files outside the package contents').toEqual([]);
    expect(files.filter((f) => /(^|\/)(test|bench|node_modules)\//.test(f))).toEqual([]);
  });

  it('exposes every entry point through exports', async () => {
    await writeFile(join(app, 'smoke.mjs'), SMOKE);
    const r = await run(process.execPath, ['smoke.mjs'], app, 20_000);
    expect(r.code, explain(r)).toBe(0);
    expect(r.stdout).toContain('every entry point imports');
  });

  it('refuses a deep import of an internal module', async () => {
    const r = await run(
      process.execPath,
      ['--input-type=module', '-e', "await import('vproxy-ts/dist/src/fd/address.js')"],
      app,
      20_000,
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('type-checks a TypeScript consumer and the docs examples against the shipped declarations', async () => {
    await writeFile(join(app, 'consumer.ts'), CONSUMER_TS);
    // Every ts block of the shipped docs/library.md, each a module of its own, so the
    // documentation cannot drift from the API it describes.
    const doc = await readFile(join(app, 'node_modules/vproxy-ts/docs/library.md'), 'utf8');
    const snippets = [...doc.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? '');
    expect(snippets.length).toBeGreaterThanOrEqual(8);
    const files = ['consumer.ts'];
    for (const [i, code] of snippets.entries()) {
      files.push(`doc-${i + 1}.ts`);
      await writeFile(join(app, `doc-${i + 1}.ts`), `${code}\nexport {};\n`);
    }
    await writeFile(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          // As `tsc --init` sets it: our declarations mention types of optional
          // dev-only packages (@types/ws) in internals no entry point exposes.
          skipLibCheck: true,
          types: ['node'],
        },
        files,
      }),
    );
    // The consumer's @types/node is the repo's: nothing more to download.
    await mkdir(join(app, 'node_modules/@types'), { recursive: true });
    if (!existsSync(join(app, 'node_modules/@types/node'))) {
      await symlink(join(ROOT, 'node_modules/@types/node'), join(app, 'node_modules/@types/node'));
    }
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    const r = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], app, 60_000);
    expect(r.code, explain(r)).toBe(0);
  }, 60_000);

  // Listed at collection time so that each example is a test of its own.
  const examples = existsSync(EXAMPLES)
    ? readdirSync(EXAMPLES)
        .filter((n) => n.endsWith('.mjs'))
        .sort()
    : [];

  it('has the four examples the issue asks for', () => {
    expect(examples).toEqual(
      expect.arrayContaining([
        'custom-transport.mjs',
        'kcp-tunnel.mjs',
        'socks5-server.mjs',
        'tcp-lb.mjs',
      ]),
    );
  });

  for (const example of examples) {
    it(`runs examples/${example}: exit 0 within a few seconds`, async () => {
      const source = await readFile(join(app, example), 'utf8');
      // Examples import only through the package name, as a user would.
      for (const m of source.matchAll(/from '([^']+)'/g)) {
        expect(m[1]).toMatch(/^(node:|vproxy-ts(\/|$))/);
      }
      const started = Date.now();
      const r = await run(process.execPath, [example], app, 20_000);
      expect(r.code, explain(r)).toBe(0);
      expect(r.stdout.trim().length).toBeGreaterThan(0);
      expect(Date.now() - started).toBeLessThan(15_000);
    }, 25_000);
  }
});
