import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCommand } from '../../../src/control/command/parse.js';
import { StoreExecutor } from '../../../src/control/command-executor.js';
import { ResourceStore } from '../../../src/control/store.js';
import { isVproxyError } from '../../../src/fd/errors.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { makeTestCerts, type TestCerts } from '../../helpers/certs.js';
import {
  type ExampleContext,
  examplesOf,
  SCRATCH_SYSTEM,
  SEED,
  usageLines,
} from '../../helpers/man-examples.js';

// Issue 14: `man bytes-in` showed `list bytes-in in server <name>`, which failed
// with "Cannot find server-group with name ." Every form man shows must parse
// and run, each against a fresh scratch store holding one of everything.

let certs: TestCerts;
beforeAll(() => {
  certs = makeTestCerts();
});
afterAll(() => certs.dispose());

/** A store with SEED applied, its executor, and the listeners' socket ids. */
async function scratch(): Promise<{
  store: ResourceStore;
  exec: StoreExecutor;
  ctx: ExampleContext;
}> {
  const store = new ResourceStore(createDefaultRegistry());
  const exec = new StoreExecutor({ store, system: SCRATCH_SYSTEM });
  for (const line of SEED(certs.cert, certs.key)) await exec.execute(line, 'stdio');
  const sock = (m: ReadonlyMap<string, { lb: { serverSockId(): string } }>, n: string) =>
    m.get(n)?.lb.serverSockId() ?? '';
  const ctx: ExampleContext = {
    cert: certs.cert,
    key: certs.key,
    serverSock: {
      'tcp-lb': sock(store.tcpLbs, 'lb0'),
      'socks5-server': sock(store.socks5Servers, 's50'),
    },
  };
  return { store, exec, ctx };
}

describe('every man example', () => {
  it('man shows the full parent chain of nested inspections', async () => {
    const lines = usageLines().map((u) => u.line);
    expect(lines).toContain('list bytes-in in server <name> in server-group <name>');
    expect(lines).toContain(
      'list bytes-in in server-sock|connection <name> in tcp-lb|socks5-server <name>',
    );
  });

  it('parses and runs against a scratch store', async () => {
    const { store, ctx } = await scratch();
    await store.close();
    const failures: string[] = [];
    let ran = 0;
    for (const { line } of usageLines()) {
      const count = examplesOf(line, ctx).length;
      for (let k = 0; k < count; k++) {
        // Listening socket ids differ per store: the example is made for its own.
        const s = await scratch();
        const example = examplesOf(line, s.ctx)[k] ?? '';
        try {
          parseCommand(example);
        } catch (err) {
          failures.push(`${line}\n    ${example}\n    does not parse: ${(err as Error).message}`);
          await s.store.close();
          continue;
        }
        try {
          await s.exec.execute(example, 'stdio');
          ran++;
        } catch (err) {
          // No live connection in a scratch store: naming one is all a form can do.
          const noSuchConnection =
            isVproxyError(err, 'ERR_NOT_FOUND') && /connection with name/.test(err.message);
          if (noSuchConnection) ran++;
          else failures.push(`${line}\n    ${example}\n    fails: ${(err as Error).message}`);
        } finally {
          await s.store.close();
        }
      }
    }
    expect(failures).toEqual([]);
    expect(ran).toBeGreaterThan(80);
  }, 60_000);

  it('list bytes-in in server svr0 works without its server-group when the name is unique', async () => {
    const { store, exec } = await scratch();
    try {
      await expect(exec.execute('list bytes-in in server svr0', 'stdio')).resolves.toEqual({
        kind: 'number',
        value: 0,
      });
      await exec.execute('add server svr0 to server-group sg1 address 127.0.0.1:3', 'stdio');
      await expect(exec.execute('list bytes-in in server svr0', 'stdio')).rejects.toThrow(
        /server svr0 is in several server-groups \(sg0, sg1\): add in server-group <name>/,
      );
    } finally {
      await store.close();
    }
  });
});
