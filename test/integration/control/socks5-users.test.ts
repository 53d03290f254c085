import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreExecutor } from '../../../src/control/command-executor.js';
import { StdioController } from '../../../src/control/controllers/stdio-controller.js';
import type { CommandResult } from '../../../src/control/executor.js';
import { ResourceStore } from '../../../src/control/store.js';
import { isVproxyError } from '../../../src/fd/errors.js';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import { socks5Connect } from '../../../src/protocols/socks5/client-handshake.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { lines } from '../../helpers/command.js';
import { useEchoBackend } from '../../helpers/echo-fixture.js';
import { firstServerUp } from './server-up.js';

// socks5-user through the executor and a real store: the table commands, the
// password kept out of every listing, list config / save / load round trips
// with 0600 files, and the running Socks5Server switching auth on and off.

const echo = useEchoBackend();
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vproxy-s5u-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const SECRET = 'Zq9-wonderland';

function setup(): string[] {
  return [
    'add server-group sg0 timeout 500 period 200 up 1 down 2 check none',
    `add server s0 to server-group sg0 address 127.0.0.1:${echo.port}`,
    'add upstream ups0',
    'add server-group sg0 to upstream ups0 weight 10',
    'add socks5-server s5 address 127.0.0.1:0 upstream ups0',
  ];
}

async function fresh(lines = setup()): Promise<{ store: ResourceStore; ex: StoreExecutor }> {
  const store = new ResourceStore(createDefaultRegistry());
  const ex = new StoreExecutor({ store });
  for (const line of lines) await ex.execute(line, 'stdio');
  return { store, ex };
}

function items(r: CommandResult): readonly unknown[] {
  if (r.kind !== 'list') throw new Error(`expected a list, got ${r.kind}`);
  return r.items;
}

/** Every way the executor shows a socks5-server and its users. */
async function everyListing(ex: StoreExecutor): Promise<string> {
  const out: unknown[] = [];
  for (const line of [
    'list socks5-user in socks5-server s5',
    'list-detail socks5-user in socks5-server s5',
    'list-detail socks5-server',
    'list socks5-server',
  ]) {
    out.push(await ex.execute(line, 'resp'));
  }
  return JSON.stringify(out);
}

describe('socks5-user commands', () => {
  it('add, update, list, remove; duplicate and not-found errors', async () => {
    const { store, ex } = await fresh();
    expect(items(await ex.execute('list socks5-user in socks5-server s5', 'stdio'))).toEqual([]);
    const done = { kind: 'done' };
    expect(
      await ex.execute(`add socks5-user alice to socks5-server s5 password ${SECRET}`, 'stdio'),
    ).toEqual(done);
    expect(await ex.execute('a s5u bob to socks5 s5 password b0b', 'stdio')).toEqual(done);
    expect(items(await ex.execute('list socks5-user in socks5-server s5', 'stdio'))).toEqual([
      'alice',
      'bob',
    ]);
    expect(items(await ex.execute('L s5u in socks5 s5', 'stdio'))).toEqual(['alice', 'bob']);

    await expect(
      ex.execute('add socks5-user alice to socks5-server s5 password other', 'stdio'),
    ).rejects.toMatchObject({
      code: 'ERR_ALREADY_EXISTS',
      message: 'socks5-server s5 already has a socks5-user named alice',
    });
    for (const line of [
      'update socks5-user carol in socks5-server s5 password x',
      'remove socks5-user carol from socks5-server s5',
      'force-remove socks5-user carol from socks5-server s5',
    ]) {
      await expect(ex.execute(line, 'stdio')).rejects.toMatchObject({
        code: 'ERR_NOT_FOUND',
        message: 'socks5-server s5 has no socks5-user named carol',
      });
    }
    for (const line of [
      'add socks5-user alice to socks5-server nope password x',
      'update socks5-user alice in socks5-server nope password x',
      'list socks5-user in socks5-server nope',
      'remove socks5-user alice from socks5-server nope',
    ]) {
      await expect(ex.execute(line, 'stdio')).rejects.toMatchObject({
        code: 'ERR_NOT_FOUND',
        message: 'Cannot find socks5-server with name nope.',
      });
    }

    expect(
      await ex.execute('update socks5-user alice in socks5-server s5 password n3w-Zq9', 'stdio'),
    ).toEqual(done);
    expect(store.socks5Servers.get('s5')?.auth.users.get('alice')).toBe('n3w-Zq9');
    expect(await ex.execute('remove socks5-user alice from socks5-server s5', 'stdio')).toEqual(
      done,
    );
    expect(await ex.execute('force-remove s5u bob from socks5 s5', 'stdio')).toEqual(done);
    expect(items(await ex.execute('list socks5-user in socks5-server s5', 'stdio'))).toEqual([]);
    expect(store.socks5Servers.get('s5')?.lb.auth).toBe('none');
    await store.close();
  });

  it('never lists a password; a bad password is refused without showing it', async () => {
    const { store, ex } = await fresh();
    await ex.execute(`add socks5-user alice to socks5-server s5 password ${SECRET}`, 'stdio');
    const shown = await everyListing(ex);
    expect(shown).toContain('alice');
    expect(shown).not.toContain(SECRET);
    expect(shown).not.toContain('Zq9');
    for (const bad of [`${SECRET} tail`, `${SECRET}é`, 'Zq9'.repeat(90)]) {
      const err = await ex
        .execute(`update socks5-user alice in socks5-server s5 password ${bad}`, 'resp')
        .catch((e: unknown) => e);
      expect(isVproxyError(err, 'ERR_COMMAND_INVALID')).toBe(true);
      expect((err as Error).message).toMatch(/^invalid password: /);
      expect((err as Error).message).not.toContain('Zq9');
    }
    // The refused updates changed nothing.
    expect(store.socks5Servers.get('s5')?.auth.users.get('alice')).toBe(SECRET);
    await store.close();
  });

  it('a failed line echoed at the StdIO prompt has its password masked', async () => {
    const { store, ex } = await fresh();
    const input = new PassThrough();
    const output = new PassThrough();
    let text = '';
    output.on('data', (c: Buffer) => {
      text += c.toString();
    });
    const stdio = new StdioController({ executor: ex, input, output, names: () => [] });
    const closed = stdio.closed();
    input.write(`add socks5-user alice to socks5-server s5 password ${SECRET} oops\n`);
    input.write(`add socks5-user alice to socks5-server nope password ${SECRET}\n`);
    input.end();
    await closed;
    expect(text).toContain(
      'command `add socks5-user alice to socks5-server s5 password ****** ******` failed!',
    );
    expect(text).toContain('Cannot find socks5-server with name nope.');
    expect(text).not.toContain('Zq9');
    await store.close();
  });
});

describe('socks5-user in list config, save and load', () => {
  it('emits users after their socks5-server; loading that text gives the same config', async () => {
    const { store, ex } = await fresh([
      ...setup(),
      `add socks5-user alice to socks5-server s5 password ${SECRET}`,
      `add socks5-user o'brien to socks5-server s5 password q"u'o\\te`,
      'add socks5-server t5 address 127.0.0.1:0 upstream ups0',
    ]);
    const config = lines(await ex.execute('list config', 'stdio'));
    const s5 = config.findIndex((l) => l.startsWith('add socks5-server s5 '));
    expect(config.slice(s5 + 1, s5 + 4)).toEqual([
      `add socks5-user alice to socks5-server s5 password ${SECRET}`,
      `add socks5-user o'brien to socks5-server s5 password q"u'o\\te`,
      expect.stringMatching(/^add socks5-server t5 /),
    ]);
    const file = join(dir, 'users.conf');
    await ex.execute(`save ${file}`, 'stdio');
    await store.close();

    const again = await fresh([]);
    expect(await again.ex.execute(`load ${file}`, 'stdio')).toEqual({
      kind: 'number',
      value: config.length - 1,
    });
    expect(lines(await again.ex.execute('list config', 'stdio'))).toEqual(config);
    expect(again.store.socks5Servers.get('s5')?.auth.users.get("o'brien")).toBe(`q"u'o\\te`);
    // The loaded users are live: the server asks for username/password.
    const entry = again.store.socks5Servers.get('s5');
    expect(entry?.lb.auth).toBe(entry?.auth);
    expect(again.store.socks5Servers.get('t5')?.lb.auth).toBe('none');
    await again.store.close();
  });

  it('saves the config and its .bak with mode 0600, even over a 0644 file', async () => {
    const { store, ex } = await fresh([
      ...setup(),
      `add socks5-user alice to socks5-server s5 password ${SECRET}`,
    ]);
    const file = join(dir, 'modes.conf');
    writeFileSync(file, '# hand-written\n');
    chmodSync(file, 0o644);
    await ex.execute(`save ${file}`, 'stdio');
    const mode = (f: string) => statSync(f).mode & 0o777;
    expect(mode(file)).toBe(0o600);
    expect(mode(`${file}.bak`)).toBe(0o600);
    await ex.execute(`save ${file}`, 'stdio');
    expect(mode(file)).toBe(0o600);
    expect(mode(`${file}.bak`)).toBe(0o600);
    await store.close();
  });
});

describe('socks5-user switches the running Socks5Server', () => {
  /** A socks5 CONNECT to the echo backend: the open stream, or the error code. */
  async function socks5(
    store: ResourceStore,
    auth?: { username: string; password: string },
  ): Promise<StreamFD | string> {
    const port = store.socks5Servers.get('s5')?.lb.bound().port;
    const fd = await store.registry.connect(`127.0.0.1:${port}`);
    try {
      await socks5Connect(fd, {
        target: { host: '127.0.0.1', port: echo.port },
        timeoutMs: 3000,
        ...(auth ? { auth } : {}),
      });
      return fd;
    } catch (err) {
      fd.destroy();
      return isVproxyError(err) ? err.code : String(err);
    }
  }

  async function echoes(fd: StreamFD | string, text: string): Promise<string> {
    if (typeof fd === 'string') throw new Error(`no session: ${fd}`);
    const got = new Promise<string>((resolve) => fd.once('data', (c: Buffer) => resolve(`${c}`)));
    fd.resume();
    fd.write(text);
    return got;
  }

  it('takes effect on the next handshake; open sessions are untouched', async () => {
    const { store, ex } = await fresh();
    await firstServerUp(ex, 'sg0');
    const alice = { username: 'alice', password: SECRET };
    const open = await socks5(store);
    expect(await echoes(open, 'no auth yet')).toBe('no auth yet');

    await ex.execute(`add socks5-user alice to socks5-server s5 password ${SECRET}`, 'stdio');
    expect(await socks5(store)).toBe('ERR_SOCKS5_NO_ACCEPTABLE_METHOD');
    expect(await socks5(store, { ...alice, password: 'wrong' })).toBe('ERR_SOCKS5_AUTH_FAILED');
    const authed = await socks5(store, alice);
    expect(await echoes(authed, 'as alice')).toBe('as alice');
    // The session opened before auth was turned on still works.
    expect(await echoes(open, 'still open')).toBe('still open');

    await ex.execute('update socks5-user alice in socks5-server s5 password n3w', 'stdio');
    expect(await socks5(store, alice)).toBe('ERR_SOCKS5_AUTH_FAILED');
    const renewed = await socks5(store, { username: 'alice', password: 'n3w' });
    expect(await echoes(renewed, 'new password')).toBe('new password');
    expect(await echoes(authed, 'old session')).toBe('old session');

    await ex.execute('remove socks5-user alice from socks5-server s5', 'stdio');
    expect(await socks5(store, { username: 'alice', password: 'n3w' })).toBe(
      'ERR_SOCKS5_NO_ACCEPTABLE_METHOD',
    );
    const again = await socks5(store);
    expect(await echoes(again, 'no auth again')).toBe('no auth again');
    expect(await echoes(renewed, 'still alice')).toBe('still alice');

    for (const fd of [open, authed, renewed, again]) if (typeof fd !== 'string') fd.destroy();
    await store.close();
  });
});
