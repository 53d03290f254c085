import { afterEach, describe, expect, it } from 'vitest';
import { StoreExecutor } from '../../../src/control/command-executor.js';
import { renderJson } from '../../../src/control/controllers/render-text.js';
import { getAnswer, parseRestPath } from '../../../src/control/controllers/rest-routes.js';
import { ResourceStore } from '../../../src/control/store.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';

// list-detail's records through the executor: network clients get them with
// address secrets masked, in the objects exactly as in the text (one source).

const KEY = 'the-kcp-key-0123456789';
let store: ResourceStore | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

async function setup(): Promise<StoreExecutor> {
  store = new ResourceStore(createDefaultRegistry());
  const ex = new StoreExecutor({ store });
  for (const line of [
    'add server-group sg0 timeout 500 period 60000 up 1 down 2 check none',
    `add server s0 to server-group sg0 address kcp://127.0.0.1:9?key=${KEY}`,
    'add upstream ups0',
    'add server-group sg0 to upstream ups0',
    `add tcp-lb k address kcp://127.0.0.1:0?mode=fast&key=${KEY} upstream ups0`,
  ])
    await ex.execute(line, 'stdio');
  return ex;
}

describe('list-detail records through the executor', () => {
  it('over HTTP the records are masked like the text, and REST answers them', async () => {
    const ex = await setup();
    const result = await ex.execute('list-detail tcp-lb', 'http');
    if (result.kind !== 'list' || result.details?.kind !== 'tcp-lb') throw new Error('no records');
    const [lb] = result.details.records;
    expect(lb?.address).toBe('kcp://127.0.0.1:0?mode=fast&key=******');
    expect(result.items).toHaveLength(1);
    expect(result.items[0]).toContain(`address ${lb?.address} `);
    const json = JSON.stringify([
      renderJson(result),
      getAnswer(parseRestPath(['tcp-lb', 'k']), result),
      renderJson(await ex.execute('list-detail server in server-group sg0', 'http')),
    ]);
    expect(json).not.toContain(KEY);
    expect(json).toContain('"address":"kcp://127.0.0.1:9?key=******"');
  });

  it('StdIO keeps the key in the records too', async () => {
    const ex = await setup();
    const result = await ex.execute('list-detail server in server-group sg0', 'stdio');
    expect(result).toMatchObject({
      details: { kind: 'server', records: [{ address: `kcp://127.0.0.1:9?key=${KEY}` }] },
    });
  });

  it('list stays names; a counter through REST is {value}', async () => {
    const ex = await setup();
    const names = await ex.execute('list tcp-lb', 'http');
    expect(names).toEqual({ kind: 'list', items: ['k'] });
    const count = await ex.execute('list-detail bytes-in in server s0', 'http');
    expect(getAnswer(parseRestPath(['server', 's0', 'bytes-in']), count)).toEqual({ value: 0 });
    expect(() => getAnswer(parseRestPath(['server', 's0', 'bytes-in', 'x']), count)).toThrow(
      /Cannot find bytes-in with name x/,
    );
  });
});
