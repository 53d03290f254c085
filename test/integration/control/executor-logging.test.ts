import { afterEach, describe, expect, it } from 'vitest';
import { StoreExecutor } from '../../../src/control/command-executor.js';
import { ResourceStore } from '../../../src/control/store.js';
import { createLogger } from '../../../src/fd/logger.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';

// Issue 14: every command that changed state is one info line (who, what), with
// no secret in it: socks5 passwords, address keys and controller tokens masked.

let store: ResourceStore | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

describe('the executor logs changes', () => {
  it('one info line per change, secrets masked; reads and refusals are not info', async () => {
    const lines: string[] = [];
    const logger = createLogger({ threshold: 'info', write: (l) => lines.push(l) });
    store = new ResourceStore(createDefaultRegistry(), logger);
    const ex = new StoreExecutor({ store, logger });
    const commands = [
      'add upstream ups0',
      'add socks5-server s5 address 127.0.0.1:0 upstream ups0',
      'add socks5-user alice to socks5-server s5 password Sup3r-Secret',
      'update socks5-user alice in socks5-server s5 password 0ther-Secret',
      'add tcp-lb k address kcp://127.0.0.1:0?key=Kcp-Secret-Key upstream ups0',
      'remove tcp-lb k',
    ];
    for (const c of commands) await ex.execute(c, 'resp');
    await ex.execute('list-detail socks5-server', 'resp');
    await ex.execute('add upstream ups0', 'resp').catch(() => {});
    const text = lines.join('\n');
    for (const secret of ['Sup3r-Secret', '0ther-Secret', 'Kcp-Secret-Key'])
      expect(text).not.toContain(secret);
    const logged = lines.map((l) => /INFO {2}command origin=resp command=(.*)$/.exec(l)?.[1]);
    expect(logged).toEqual([
      '"add upstream ups0"',
      '"add socks5-server s5 address 127.0.0.1:0 upstream ups0"',
      '"add socks5-user alice to socks5-server s5 password ***"',
      '"update socks5-user alice in socks5-server s5 password ***"',
      '"add tcp-lb k address kcp://127.0.0.1:0?key=*** upstream ups0"',
      '"remove tcp-lb k"',
    ]);
  });
});
