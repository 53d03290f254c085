import { afterEach, describe, expect, it } from 'vitest';
import { StoreExecutor } from '../../../src/control/command-executor.js';
import type { CommandResult } from '../../../src/control/executor.js';
import { ResourceStore } from '../../../src/control/store.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';

// Issue 14 (and issue 10's rule that no answer carries a secret the client did
// not send): a kcp key= in a listener's or server's address is masked in every
// listing read over RESP/HTTP; StdIO and saved files keep it. The mask is
// refused as a value, so a listing pasted back cannot set a known key.

const KEY = 'the-kcp-key-0123456789';
let store: ResourceStore | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

function text(r: CommandResult): string {
  if (r.kind === 'list')
    return r.items.map((i) => (typeof i === 'string' ? i : i.join(' '))).join('\n');
  if (r.kind === 'lines') return r.lines.join('\n');
  return JSON.stringify(r);
}

async function setup() {
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

describe('address keys in listings', () => {
  it.each(['resp', 'http'] as const)('over %s every listing masks them', async (origin) => {
    const ex = await setup();
    for (const line of [
      'list-detail tcp-lb',
      'list-detail server in server-group sg0',
      'list config',
    ]) {
      const out = text(await ex.execute(line, origin));
      expect(out).not.toContain(KEY);
      expect(out).toContain('key=******');
    }
    expect(text(await ex.execute('list-detail tcp-lb', origin))).toContain('?mode=fast&key=******');
  });

  it('StdIO (the operator at the console) and list config there keep them', async () => {
    const ex = await setup();
    expect(text(await ex.execute('list-detail tcp-lb', 'stdio'))).toContain(`key=${KEY}`);
    expect(text(await ex.execute('list config', 'stdio'))).toContain(`key=${KEY}`);
  });

  it('the mask is refused as a key', async () => {
    const ex = await setup();
    await expect(
      ex.execute('add tcp-lb k2 address kcp://127.0.0.1:0?key=****** upstream ups0', 'resp'),
    ).rejects.toThrow(
      /invalid address kcp:\/\/127\.0\.0\.1:0\?key=\*{6}: \*{6} is how a listing shows a masked key; give the real one/,
    );
  });
});
