import type { Duplex } from 'node:stream';
import { expect } from 'vitest';
import { StoreExecutor } from '../../../src/control/command-executor.js';
import { ResourceStore } from '../../../src/control/store.js';
import type { Server } from '../../../src/lb/server.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { hashUntilEnd, writeRandom } from '../../helpers/net.js';

// A small running vproxy for the observability tests: one tcp-lb in front of a
// server group with one live backend (an echo server) and one dead address.

export interface Fixture {
  readonly store: ResourceStore;
  readonly executor: StoreExecutor;
  readonly lbPort: number;
  close(): Promise<void>;
}

export async function startFixture(echoPort: number, deadPort: number): Promise<Fixture> {
  const store = new ResourceStore(createDefaultRegistry());
  const executor = new StoreExecutor({ store });
  for (const line of [
    'add server-group sg0 timeout 3000 period 100 up 1 down 1 method wrr check tcp',
    `add server s-up to server-group sg0 address 127.0.0.1:${echoPort} weight 10`,
    `add server s-down to server-group sg0 address 127.0.0.1:${deadPort} weight 5`,
    'add upstream ups0',
    'add server-group sg0 to upstream ups0 weight 10',
    'add tcp-lb lb0 address 127.0.0.1:0 upstream ups0 timeout 60000',
  ]) {
    expect(await executor.execute(line, 'stdio')).toEqual({ kind: 'done' });
  }
  const group = store.serverGroups.get('sg0')?.group;
  await until(() => {
    const [up, down] = [group?.get('s-up'), group?.get('s-down')];
    return up?.healthy === true && (down?.stats().health.failures ?? 0) > 0;
  });
  const lb = store.tcpLbs.get('lb0')?.lb;
  if (lb === undefined) throw new Error('no lb0');
  return { store, executor, lbPort: lb.bound().port, close: () => store.close() };
}

/** The server `name` of sg0. */
export function server(store: ResourceStore, name: string): Server {
  const s = store.serverGroups.get('sg0')?.group.get(name);
  if (s === undefined) throw new Error(`no server ${name}`);
  return s;
}

/** Poll `ok` every 10 ms for up to `ms`. */
export async function until(ok: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Send `bytes` through the echo path and check they come back intact. */
export async function echoThrough(
  store: ResourceStore,
  port: number,
  bytes: number,
): Promise<void> {
  const client: Duplex = await store.registry.connect(`127.0.0.1:${port}`);
  const back = hashUntilEnd(client);
  const sent = await writeRandom(client, bytes);
  const got = await back;
  expect(got).toEqual({ bytes, sha256: sent });
  client.destroy();
}
