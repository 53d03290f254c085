import { afterEach, describe, expect, it } from 'vitest';
import type { MethodName } from '../../../src/lb/selection-method.js';
import type { ConnectionLease } from '../../../src/lb/server.js';
import { ServerGroup } from '../../../src/lb/server-group.js';
import { seededRandom } from './fakes.js';

// Each method's share of 100,000 picks must match the weights within 1%
// (absolute share difference ≤ 0.01). Seeded randomness: the runs are reproducible.

const PICKS = 100_000;
const WEIGHTS: Record<string, number> = { a: 1, b: 2, c: 3, d: 4, e: 10, z: 0 };
const groups: ServerGroup[] = [];

afterEach(async () => {
  for (const g of groups.splice(0)) await g.close();
});

function makeGroup(method: MethodName, seed = 1): ServerGroup {
  const group = new ServerGroup({
    name: `g-${method}`,
    method,
    healthCheck: { timeoutMs: 1000, periodMs: 1000, up: 1, down: 1, check: { kind: 'none' } },
    random: seededRandom(seed),
  });
  groups.push(group);
  for (const [name, weight] of Object.entries(WEIGHTS))
    group.add(name, `tcp://10.0.0.1:${8000 + weight}`, weight);
  return group;
}

/** The i-th client address: a spread of IPv4 and IPv6 clients, all distinct. */
function clientAddress(i: number): string {
  return i % 4 === 3
    ? `2001:db8::${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}`
    : `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
}

function expectShares(counts: Map<string, number>, total: number): void {
  const sum = Object.values(WEIGHTS).reduce((a, b) => a + b, 0);
  expect(counts.get('z') ?? 0).toBe(0); // weight 0 is never picked
  for (const [name, weight] of Object.entries(WEIGHTS)) {
    const share = (counts.get(name) ?? 0) / total;
    expect(Math.abs(share - weight / sum), `share of ${name}: ${share}`).toBeLessThanOrEqual(0.01);
  }
}

function run(pick: (i: number) => string | undefined): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < PICKS; i++) {
    const name = pick(i);
    if (name !== undefined) counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

describe('selection methods: 100,000 picks follow the weights within 1%', () => {
  for (const method of ['wrr', 'random'] as const) {
    it(method, () => {
      const group = makeGroup(method);
      expectShares(
        run(() => group.next('10.1.2.3')?.name),
        PICKS,
      );
    });
  }

  it('wrr is exact and smooth: 5/1/1 gives A A B A C A A (up to rotation)', () => {
    const group = new ServerGroup({
      name: 'smooth',
      healthCheck: { timeoutMs: 1, periodMs: 1, up: 1, down: 1, check: { kind: 'none' } },
      random: () => 0,
    });
    groups.push(group);
    group.add('A', 'tcp://10.0.0.1:1', 5);
    group.add('B', 'tcp://10.0.0.2:1', 1);
    group.add('C', 'tcp://10.0.0.3:1', 1);
    const seq = Array.from({ length: 14 }, () => group.next()?.name).join('');
    expect(seq).toBe('AABACAAAABACAA');
  });

  it('source (100,000 distinct clients, IPv4 and IPv6)', () => {
    const group = makeGroup('source');
    expectShares(
      run((i) => group.next(clientAddress(i))?.name),
      PICKS,
    );
  });

  it('wlc with connections held open (shares follow weights through the counts)', () => {
    const group = makeGroup('wlc');
    const leases: ConnectionLease[] = [];
    const counts = run(() => {
      const s = group.next();
      if (s) leases.push(s.acquire());
      return s?.name;
    });
    expectShares(counts, PICKS);
    for (const l of leases) l.release();
    expect(group.servers().every((s) => s.activeConnections === 0)).toBe(true);
  });

  it('wlc with ~200 live connections closing at random (steady state)', () => {
    const group = makeGroup('wlc');
    const rnd = seededRandom(7);
    const live: ConnectionLease[] = [];
    const counts = run(() => {
      const s = group.next();
      if (s) live.push(s.acquire());
      while (live.length > 200) {
        const k = Math.floor(rnd() * live.length);
        live[k]?.release();
        live[k] = live[live.length - 1] as ConnectionLease;
        live.pop();
      }
      return s?.name;
    });
    expectShares(counts, PICKS);
    for (const l of live) l.release();
  });

  it('wlc on an idle group (every connection closes at once): ties spread by weight', () => {
    const group = makeGroup('wlc');
    expectShares(
      run(() => {
        const s = group.next();
        s?.acquire().release();
        return s?.name;
      }),
      PICKS,
    );
  });
});
