import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreExecutor } from '../../../src/control/command-executor.js';
import { ResourceStore } from '../../../src/control/store.js';
import { createLogger } from '../../../src/fd/logger.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';

// Issue 14: a failure the code did not foresee answered `ERR internal error`
// with its cause only on the daemon's stderr; a used port was one of them.
// Now a listen names what the OS said, and anything else is ERR_INTERNAL with
// its cause in the message and, with that cause, in the log.

let squatter: Server;
let used: number;
beforeAll(async () => {
  squatter = createServer().listen(0, '127.0.0.1');
  await once(squatter, 'listening');
  used = (squatter.address() as { port: number }).port;
});
afterAll(() => squatter.close());

async function executor() {
  const registry = createDefaultRegistry().registerTransport({
    scheme: 'boom',
    options: [],
    connect: () => Promise.reject(new Error('not used')),
    listen: () =>
      Promise.reject(Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' })),
  });
  const lines: string[] = [];
  const logger = createLogger({ threshold: 'debug', write: (l) => lines.push(l) });
  const store = new ResourceStore(registry, logger);
  const ex = new StoreExecutor({ store, logger });
  await ex.execute('add upstream ups0', 'resp');
  return { ex, store, lines };
}

describe('executor errors name their cause', () => {
  it('a used port: ERR_ADDRESS_IN_USE, address H:P is in use', async () => {
    const { ex, store } = await executor();
    await expect(
      ex.execute(`add tcp-lb x address 127.0.0.1:${used} upstream ups0`, 'resp'),
    ).rejects.toMatchObject({
      code: 'ERR_ADDRESS_IN_USE',
      message: `address 127.0.0.1:${used} is in use`,
    });
    await expect(
      ex.execute(`add socks5-server s address 127.0.0.1:${used} upstream ups0`, 'http'),
    ).rejects.toMatchObject({
      code: 'ERR_ADDRESS_IN_USE',
    });
    expect(store.tcpLbs.size + store.socks5Servers.size).toBe(0);
    await store.close();
  });

  it('an unforeseen failure is ERR_INTERNAL with the cause, logged at error with its code', async () => {
    const { ex, store, lines } = await executor();
    await expect(
      ex.execute('add tcp-lb x address boom://127.0.0.1:1 upstream ups0', 'resp'),
    ).rejects.toMatchObject({
      code: 'ERR_INTERNAL',
      message: 'internal error: EMFILE: too many open files',
    });
    expect(lines.find((l) => / ERROR command-failed /.test(l))).toMatch(
      /origin=resp command="add tcp-lb x address boom:\/\/127\.0\.0\.1:1 upstream ups0" error="EMFILE: too many open files" code=EMFILE/,
    );
    await store.close();
  });

  it('without a logger too', async () => {
    const store = new ResourceStore(
      createDefaultRegistry().registerTransport({
        scheme: 'boom',
        options: [],
        connect: () => Promise.reject(new Error('x')),
        listen: () => Promise.reject(new Error('kaput')),
      }),
    );
    const ex = new StoreExecutor({ store });
    await ex.execute('add upstream ups0', 'stdio');
    await expect(
      ex.execute('add tcp-lb x address boom://127.0.0.1:1 upstream ups0', 'stdio'),
    ).rejects.toThrow('internal error: kaput');
    await store.close();
  });
});
