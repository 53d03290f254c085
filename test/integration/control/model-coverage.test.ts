import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Action,
  type Param,
  type ResourceType,
  TYPES,
} from '../../../src/control/command/keywords.js';
import { parseCommand } from '../../../src/control/command/parse.js';
import { RESOURCES } from '../../../src/control/command/resources.js';
import { StoreExecutor } from '../../../src/control/command-executor.js';
import { REFERENCE_PARAMS } from '../../../src/control/config.js';
import { HANDLERS, type Handler } from '../../../src/control/handlers/index.js';
import { ResourceStore } from '../../../src/control/store.js';
import { isVproxyError } from '../../../src/fd/errors.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { makeTestCerts, type TestCerts } from '../../helpers/certs.js';
import { lines } from '../../helpers/command.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';

// Issue 11 item 4, generated from the command model rather than listed by hand:
// (1) every handler fails on an action its kind does not have (a `default:`
//     branch once treated any unknown action as remove);
// (2) for every pair (used kind, user kind) the model can express — a param
//     naming another resource, or `add X to Y` — remove and force-remove of the
//     used resource are refused while the user holds it, and succeed once it
//     is gone; the config saved in between loads into a fresh store.

let certs: TestCerts;
let dir: string;
let baseline: string[];

beforeAll(() => {
  baseline = snapshotSockets();
  certs = makeTestCerts();
  dir = mkdtempSync(join(tmpdir(), 'vproxy-model-coverage-'));
});

afterAll(async () => {
  certs.dispose();
  rmSync(dir, { recursive: true, force: true });
  await expectNoLeakedSockets(baseline);
});

async function withExecutor(
  run: (ex: StoreExecutor, store: ResourceStore) => Promise<void>,
): Promise<void> {
  const store = new ResourceStore(createDefaultRegistry());
  try {
    await run(new StoreExecutor({ store }), store);
  } finally {
    await store.close();
  }
}

async function outcome(ex: StoreExecutor, line: string): Promise<string> {
  try {
    await ex.execute(line, 'stdio');
    return 'ok';
  } catch (err) {
    if (!isVproxyError(err)) throw err;
    return `${err.code}: ${err.message}`;
  }
}

/** One of every kind the store holds, each named `<short>0`, with what it needs. */
const EVERY_KIND = (): readonly string[] => [
  'add upstream u0',
  'add server-group g0 timeout 500 period 60000 up 1 down 2',
  'add server s0 to server-group g0 address 127.0.0.1:9 weight 1',
  'add server-group g0 to upstream u0',
  'add security-group sg0 default allow',
  'add security-group-rule r0 to security-group sg0 network 10.0.0.0/8 protocol tcp port-range 1,2 default deny',
  'add event-loop-group e0',
  'add event-loop l0 to event-loop-group e0',
  `add cert-key c0 cert ${certs.cert} key ${certs.key}`,
  'add tcp-lb lb0 address 127.0.0.1:0 upstream u0',
  'add socks5-server x0 address 127.0.0.1:0 upstream u0',
  'add socks5-user alice to socks5-server x0 password secret1',
  'add udp-lb ul0 address udp://127.0.0.1:0 upstream u0',
  'add smart-node-delegate n0 service svc zone z address 127.0.0.1 port 12345',
  'add smart-group-delegate d0 service svc zone z server-group g0',
];

/** How to name the resource of each handled kind in a `remove` (its place included). */
const REMOVE_OF: Readonly<Partial<Record<ResourceType, string>>> = {
  'tcp-lb': 'remove tcp-lb lb0',
  'socks5-server': 'remove socks5-server x0',
  'udp-lb': 'remove udp-lb ul0',
  'event-loop-group': 'remove event-loop-group e0',
  'event-loop': 'remove event-loop l0 from event-loop-group e0',
  upstream: 'remove upstream u0',
  'server-group': 'remove server-group g0',
  server: 'remove server s0 from server-group g0',
  'socks5-user': 'remove socks5-user alice from socks5-server x0',
  'security-group': 'remove security-group sg0',
  'security-group-rule': 'remove security-group-rule r0 from security-group sg0',
  'cert-key': 'remove cert-key c0',
  'smart-node-delegate': 'remove smart-node-delegate n0',
  'smart-group-delegate': 'remove smart-group-delegate d0',
};

const ACTIONS: readonly Action[] = [
  'add',
  'list',
  'list-detail',
  'update',
  'remove',
  'force-remove',
];

describe('every handler refuses an action its kind does not have', () => {
  it('covers every kind the store holds', () => {
    expect(Object.keys(REMOVE_OF).sort()).toEqual(Object.keys(HANDLERS).sort());
  });

  it('an action outside the model fails with ERR_COMMAND_INVALID and changes nothing', async () => {
    await withExecutor(async (ex, store) => {
      for (const line of EVERY_KIND()) await ex.execute(line, 'stdio');
      const before = lines(await ex.execute('list config', 'stdio'));
      let tried = 0;
      for (const [type, handler] of Object.entries(HANDLERS) as [ResourceType, Handler][]) {
        const remove = parseCommand(REMOVE_OF[type] ?? '');
        const missing = ACTIONS.filter((a) => RESOURCES[type][a] === undefined);
        for (const action of [...missing, 'frobnicate' as Action]) {
          tried++;
          const got = await Promise.resolve()
            .then(() => handler(store, { ...remove, action }))
            .then(
              () => 'ok',
              (err: unknown) => (isVproxyError(err) ? err.code : String(err)),
            );
          expect(got, `${action} ${type}`).toBe('ERR_COMMAND_INVALID');
        }
      }
      expect(tried).toBeGreaterThan(Object.keys(HANDLERS).length);
      expect(lines(await ex.execute('list config', 'stdio'))).toEqual(before);
    });
  });
});

interface Pair {
  readonly used: ResourceType;
  readonly user: ResourceType;
  /** The param of the user that names the used resource, or `to` for `add used to user`. */
  readonly via: Param | 'to';
}

const isTopLevel = (type: ResourceType | 'top'): type is ResourceType =>
  type !== 'top' && (RESOURCES[type].add ?? []).some((r) => r.where.includes('top'));

/** Every way the model lets one top-level resource use another. */
function modelPairs(): Pair[] {
  const pairs = new Map<string, Pair>();
  const add = (pair: Pair) => pairs.set(`${pair.used} ${pair.user} ${pair.via}`, pair);
  for (const user of TYPES.values()) {
    for (const action of ['add', 'update'] as const) {
      for (const rule of RESOURCES[user.full][action] ?? []) {
        for (const p of rule.params ?? []) {
          const used = REFERENCE_PARAMS.get(p.param);
          if (used !== undefined) add({ used, user: user.full, via: p.param });
        }
        if (action !== 'add' || !isTopLevel(user.full)) continue;
        for (const place of rule.where)
          if (isTopLevel(place)) add({ used: user.full, user: place, via: 'to' });
      }
    }
  }
  return [...pairs.values()];
}

/** The lines that create one `kind` named `name`, whose `refs` name other resources. */
function create(kind: ResourceType, name: string, refs: Partial<Record<Param, string>>): string[] {
  const extra = Object.entries(refs)
    .map(([p, v]) => ` ${p} ${v}`)
    .join('');
  const upstream = refs.upstream === undefined ? ['add upstream up-dep'] : [];
  const withUpstream = refs.upstream === undefined ? ' upstream up-dep' : '';
  switch (kind) {
    case 'upstream':
      return [`add upstream ${name}`];
    case 'server-group':
      return [`add server-group ${name} timeout 500 period 60000 up 1 down 2${extra}`];
    case 'event-loop-group':
      return [`add event-loop-group ${name}`, `add event-loop l0 to event-loop-group ${name}`];
    case 'security-group':
      return [`add security-group ${name} default allow`];
    case 'cert-key':
      return [`add cert-key ${name} cert ${certs.cert} key ${certs.key}`];
    case 'tcp-lb': {
      const scheme = refs['cert-key'] === undefined ? '' : 'tls://';
      return [
        ...upstream,
        `add tcp-lb ${name} address ${scheme}127.0.0.1:0${withUpstream}${extra}`,
      ];
    }
    case 'socks5-server':
      return [...upstream, `add socks5-server ${name} address 127.0.0.1:0${withUpstream}${extra}`];
    case 'udp-lb':
      return [...upstream, `add udp-lb ${name} address udp://127.0.0.1:0${withUpstream}${extra}`];
    case 'smart-group-delegate': {
      const group = refs['server-group'] === undefined;
      return [
        ...(group ? create('server-group', 'sg-dep', {}) : []),
        `add smart-group-delegate ${name} service svc zone z${group ? ' server-group sg-dep' : ''}${extra}`,
      ];
    }
    default:
      throw new Error(`no recipe for a ${kind}: add one here (the model gained a kind)`);
  }
}

describe('remove of a resource in use, for every pair of kinds the model can express', () => {
  const pairs = modelPairs();

  it('finds the pairs the model has (and the known ones among them)', () => {
    const names = pairs.map((p) => `${p.used} <- ${p.user} (${p.via})`);
    for (const known of [
      'upstream <- tcp-lb (upstream)',
      'upstream <- udp-lb (upstream)',
      'event-loop-group <- socks5-server (acceptor-elg)',
      'event-loop-group <- server-group (event-loop-group)',
      'security-group <- udp-lb (security-group)',
      'server-group <- upstream (to)',
      'server-group <- smart-group-delegate (server-group)',
      'cert-key <- tcp-lb (cert-key)',
    ]) {
      expect(names).toContain(known);
    }
  });

  it.each(pairs)(
    '$used used by $user ($via): refused, loads after save, removable once free',
    async ({ used, user, via }) => {
      await withExecutor(async (ex) => {
        const script = [
          ...create(used, 'used0', {}),
          ...(via === 'to'
            ? [...create(user, 'user0', {}), `add ${used} used0 to ${user} user0`]
            : create(user, 'user0', { [via]: 'used0' })),
        ];
        for (const line of script) await ex.execute(line, 'stdio');
        for (const action of ['remove', 'force-remove']) {
          expect(await outcome(ex, `${action} ${used} used0`)).toBe(
            `ERR_IN_USE: ${used} used0 is used by ${user} user0`,
          );
        }
        const config = lines(await ex.execute('list config', 'stdio'));
        const file = join(dir, `${used}-${user}-${via}.conf`);
        await ex.execute(`save ${file}`, 'stdio');
        await withExecutor(async (fresh) => {
          await fresh.execute(`load ${file}`, 'stdio');
          expect(lines(await fresh.execute('list config', 'stdio'))).toEqual(config);
        });
        const freeIt =
          via === 'to' ? `remove ${used} used0 from ${user} user0` : `remove ${user} user0`;
        expect(await outcome(ex, freeIt)).toBe('ok');
        expect(await outcome(ex, `remove ${used} used0`)).toBe('ok');
      });
    },
  );
});
