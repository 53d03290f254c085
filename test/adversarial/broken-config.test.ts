import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Daemon } from '../../apps/daemon/run-daemon.js';
import { StoreExecutor } from '../../src/control/command-executor.js';
import { ResourceStore } from '../../src/control/store.js';
import { isVproxyError } from '../../src/fd/errors.js';
import { createDefaultRegistry } from '../../transports/default-registry.js';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { lines } from '../helpers/command.js';
import { expectNoLeakedSockets, snapshotSockets } from '../helpers/handles.js';

// Issue 10 #5 and #8: a daemon must never save a config it cannot load. Every
// kind of resource is removed (and force-removed) while each kind of user holds
// it; whatever the answer, save + load into a fresh store must round-trip.
// save itself refuses a config that would not load, and cert-key checks its files.

let dir: string;
let certs: TestCerts;
let baseline: string[];

beforeAll(() => {
  baseline = snapshotSockets();
  dir = mkdtempSync(join(tmpdir(), 'vproxy-broken-config-'));
  certs = makeTestCerts();
});

afterAll(async () => {
  certs.dispose();
  rmSync(dir, { recursive: true, force: true });
  await expectNoLeakedSockets(baseline);
});

async function runAll(ex: StoreExecutor, script: readonly string[]): Promise<void> {
  for (const line of script) await ex.execute(line, 'stdio');
}

/** The error code a command fails with, or 'ok'. */
async function outcome(ex: StoreExecutor, line: string): Promise<string> {
  try {
    await ex.execute(line, 'stdio');
    return 'ok';
  } catch (err) {
    if (!isVproxyError(err)) throw err;
    return `${err.code}: ${err.message}`;
  }
}

const UPS = 'add upstream up0';
const ELG = ['add event-loop-group e0', 'add event-loop l0 to event-loop-group e0'];
const SG = 'add server-group g0 timeout 500 period 60000 up 1 down 2';
const SECG = 'add security-group s0 default allow';
const lb = (extra = '') => `add tcp-lb lb0 address 127.0.0.1:0 upstream up0${extra}`;
const s5 = (extra = '') => `add socks5-server x0 address 127.0.0.1:0 upstream up0${extra}`;

interface UsageCase {
  readonly used: string;
  readonly user: string;
  readonly script: () => readonly string[];
}

/** Every resource kind that something else can refer to, with every kind of user. */
const CASES: readonly UsageCase[] = [
  {
    used: 'server-group g0',
    user: 'upstream up0',
    script: () => [SG, UPS, 'add server-group g0 to upstream up0 weight 10'],
  },
  { used: 'upstream up0', user: 'tcp-lb lb0', script: () => [UPS, lb()] },
  { used: 'upstream up0', user: 'socks5-server x0', script: () => [UPS, s5()] },
  {
    used: 'security-group s0',
    user: 'tcp-lb lb0',
    script: () => [UPS, SECG, lb(' security-group s0')],
  },
  {
    used: 'security-group s0',
    user: 'socks5-server x0',
    script: () => [UPS, SECG, s5(), 'update socks5-server x0 security-group s0'],
  },
  {
    used: 'cert-key c0',
    user: 'tcp-lb lb0',
    script: () => [
      `add cert-key c0 cert ${certs.cert} key ${certs.key}`,
      UPS,
      'add tcp-lb lb0 address tls://127.0.0.1:0 upstream up0 cert-key c0',
    ],
  },
  {
    used: 'event-loop-group e0',
    user: 'server-group g0',
    script: () => [...ELG, `${SG} event-loop-group e0`],
  },
  {
    used: 'event-loop-group e0',
    user: 'tcp-lb lb0',
    script: () => [...ELG, UPS, lb(' event-loop-group e0')],
  },
  {
    used: 'event-loop-group e0',
    user: 'tcp-lb lb0',
    script: () => [...ELG, UPS, lb(' acceptor-elg e0')],
  },
  {
    used: 'event-loop-group e0',
    user: 'socks5-server x0',
    script: () => [...ELG, UPS, s5(' event-loop-group e0')],
  },
  {
    used: 'event-loop-group e0',
    user: 'socks5-server x0',
    script: () => [...ELG, UPS, s5(' acceptor-elg e0')],
  },
];

describe('removing a resource that others use', () => {
  it.each(
    CASES.flatMap((c) => (['remove', 'force-remove'] as const).map((action) => ({ ...c, action }))),
  )('$action $used while $user uses it: refused, and save + load round-trips', async (c) => {
    const store = new ResourceStore(createDefaultRegistry());
    const ex = new StoreExecutor({ store });
    const fresh = new ResourceStore(createDefaultRegistry());
    try {
      await runAll(ex, c.script());
      const before = lines(await ex.execute('list config', 'stdio'));
      // Refusal is the chosen semantics for both: nothing that uses it is lost.
      expect(await outcome(ex, `${c.action} ${c.used}`)).toBe(
        `ERR_IN_USE: ${c.used} is used by ${c.user}`,
      );
      const config = lines(await ex.execute('list config', 'stdio'));
      expect(config).toEqual(before);
      const file = join(dir, `${c.action}-${c.used}-${c.user}.conf`.replaceAll(' ', '_'));
      await ex.execute(`save ${file}`, 'stdio');
      await store.close();
      const ex2 = new StoreExecutor({ store: fresh });
      await ex2.execute(`load ${file}`, 'stdio');
      expect(lines(await ex2.execute('list config', 'stdio'))).toEqual(config);
    } finally {
      await store.close();
      await fresh.close();
    }
  });

  it('removes in dependency order once the users are gone', async () => {
    const store = new ResourceStore(createDefaultRegistry());
    const ex = new StoreExecutor({ store });
    try {
      await runAll(ex, [
        ...ELG,
        `${SG} event-loop-group e0`,
        UPS,
        'add server-group g0 to upstream up0',
        SECG,
      ]);
      await runAll(ex, [lb(' security-group s0 event-loop-group e0'), s5(' acceptor-elg e0')]);
      for (const line of [
        'force-remove tcp-lb lb0',
        'remove socks5-server x0',
        'force-remove upstream up0',
        'remove security-group s0',
        'remove server-group g0',
        'force-remove event-loop-group e0',
      ]) {
        expect(await outcome(ex, line)).toBe('ok');
      }
      expect(lines(await ex.execute('list config', 'stdio'))).toHaveLength(1);
    } finally {
      await store.close();
    }
  });
});

describe('save refuses a config that does not load', () => {
  it('keeps the previous file and names the broken line', async () => {
    const store = new ResourceStore(createDefaultRegistry());
    const ex = new StoreExecutor({ store });
    try {
      await runAll(ex, [UPS, lb()]);
      const file = join(dir, 'guarded.conf');
      await ex.execute(`save ${file}`, 'stdio');
      const good = readFileSync(file, 'utf8');
      // A store that refers to a missing upstream (the state force-remove used to leave).
      store.upstreams.delete('up0');
      const err = await ex.execute(`save ${file}`, 'stdio').catch((e: unknown) => e);
      expect(isVproxyError(err, 'ERR_CONFIG_INVALID')).toBe(true);
      expect((err as Error).message).toMatch(
        /^refusing to save .*guarded\.conf: it would not load: line 2: Cannot find upstream with name up0\. \(kept the previous file; this config is in .*guarded\.conf\.rejected\)$/,
      );
      expect(readFileSync(file, 'utf8')).toBe(good);
      expect(readFileSync(`${file}.rejected`, 'utf8')).toContain('add tcp-lb lb0 ');
    } finally {
      await store.close();
    }
  });

  it('the exit save of the daemon keeps the last good config too', async () => {
    const configDir = join(dir, 'daemon-home');
    const options = {
      configDir,
      loadLast: true,
      save: true,
      stdio: false,
      respController: 'off',
      httpController: 'off',
      allowRemoteFileCommands: false,
      autoSaveMs: 3_600_000,
    };
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      const d1 = new Daemon(createDefaultRegistry(), options);
      await d1.start();
      await runAll(d1.executor, [UPS, lb()]);
      await d1.stop();
      const good = readFileSync(join(configDir, 'last'), 'utf8');

      const d2 = new Daemon(createDefaultRegistry(), options);
      await d2.start();
      d2.store.upstreams.delete('up0');
      await d2.stop();
      expect(readFileSync(join(configDir, 'last'), 'utf8')).toBe(good);
      expect(errors.mock.calls.flat().join('\n')).toMatch(/it would not load/);

      const d3 = new Daemon(createDefaultRegistry(), options);
      await d3.start();
      expect([...d3.store.tcpLbs.keys()]).toEqual(['lb0']);
      await d3.stop();
    } finally {
      errors.mockRestore();
      log.mockRestore();
    }
  });
});

describe('add cert-key checks the files it names', () => {
  it('refuses a missing, unreadable, non-PEM or mismatched file, naming it', async () => {
    const store = new ResourceStore(createDefaultRegistry());
    const ex = new StoreExecutor({ store });
    const missing = join(dir, 'missing.pem');
    const directory = join(dir, 'a-directory');
    mkdirSync(directory);
    const text = join(dir, 'not-pem.txt');
    writeFileSync(text, 'hello, not a certificate\n');
    const otherCerts = makeTestCerts();
    try {
      const add = (cert: string, key: string) =>
        outcome(ex, `add cert-key c0 cert ${cert} key ${key}`);
      expect(await add(missing, certs.key)).toMatch(
        new RegExp(`^ERR_OPTION_INVALID: cert-key c0: cannot read cert ${missing}: `),
      );
      expect(await add(certs.cert, missing)).toMatch(
        new RegExp(`^ERR_OPTION_INVALID: cert-key c0: cannot read key ${missing}: `),
      );
      expect(await add(directory, certs.key)).toBe(
        `ERR_OPTION_INVALID: cert-key c0: cannot read cert ${directory}: not a regular file`,
      );
      expect(await add(text, certs.key)).toMatch(
        new RegExp(`^ERR_OPTION_INVALID: cert-key c0: cert ${text} is not a PEM certificate`),
      );
      expect(await add(certs.cert, text)).toMatch(
        new RegExp(`^ERR_OPTION_INVALID: cert-key c0: key ${text} is not a PEM private key`),
      );
      expect(await add(certs.key, certs.key)).toMatch(/cert .* is not a PEM certificate/);
      expect(await add(certs.cert, otherCerts.key)).toBe(
        `ERR_OPTION_INVALID: cert-key c0: key ${otherCerts.key} does not match cert ${certs.cert}`,
      );
      if (process.getuid?.() !== 0) {
        const locked = join(dir, 'locked.pem');
        writeFileSync(locked, readFileSync(certs.cert));
        chmodSync(locked, 0o000);
        expect(await add(locked, certs.key)).toMatch(
          new RegExp(`^ERR_OPTION_INVALID: cert-key c0: cannot read cert ${locked}: `),
        );
      }
      expect(await outcome(ex, 'list cert-key')).toBe('ok');
      expect(await ex.execute('list cert-key', 'stdio')).toEqual({ kind: 'list', items: [] });
      expect(await add(certs.cert, certs.key)).toBe('ok');
    } finally {
      otherCerts.dispose();
      await store.close();
    }
  });
});
