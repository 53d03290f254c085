import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ServerGroup } from '../../../src/lb/server-group.js';

// `source` is consistent hashing: shares follow weights (see selection-distribution),
// and membership changes move as few clients as possible.

const CLIENTS = 100_000;
const groups: ServerGroup[] = [];

afterEach(async () => {
  for (const g of groups.splice(0)) await g.close();
});

function group(servers: readonly (readonly [string, number])[], name = 'src'): ServerGroup {
  const g = new ServerGroup({
    name,
    method: 'source',
    healthCheck: { timeoutMs: 1, periodMs: 1, up: 1, down: 1, check: { kind: 'none' } },
  });
  groups.push(g);
  for (const [n, w] of servers) g.add(n, `tcp://192.0.2.1:${1000 + groups.length}`, w);
  return g;
}

const client = (i: number) => `172.${16 + ((i >>> 16) & 15)}.${(i >>> 8) & 255}.${i & 255}`;

function assignment(g: ServerGroup): string[] {
  const out: string[] = [];
  for (let i = 0; i < CLIENTS; i++) out.push(g.next(client(i))?.name ?? '-');
  return out;
}

const ten = Array.from({ length: 10 }, (_, i) => [`s${i}`, 10] as const);

describe('source hashing moves the fewest clients', () => {
  it('adding an 11th server to ten keeps ≥ 90% of clients in place; the rest go to the new one', () => {
    const g = group(ten);
    const before = assignment(g);
    g.add('s10', 'tcp://192.0.2.1:2000', 10);
    const after = assignment(g);
    let same = 0;
    let movedElsewhere = 0;
    for (let i = 0; i < CLIENTS; i++) {
      if (before[i] === after[i]) same++;
      else if (after[i] !== 's10') movedElsewhere++;
    }
    expect(same / CLIENTS).toBeGreaterThanOrEqual(0.9);
    expect(movedElsewhere).toBe(0);
  });

  it('removing one of ten moves exactly that server’s clients', () => {
    const g = group(ten);
    const before = assignment(g);
    g.remove('s3');
    const after = assignment(g);
    let wrong = 0;
    let moved = 0;
    for (let i = 0; i < CLIENTS; i++) {
      if (before[i] === 's3') moved++;
      if (before[i] === 's3' ? after[i] === 's3' : after[i] !== before[i]) wrong++;
    }
    expect(wrong).toBe(0);
    expect(moved).toBeGreaterThan(CLIENTS * 0.08); // s3 had its ~10% share
  });

  it('raising one weight only moves clients to that server; a drained server’s clients come back', () => {
    const g = group(ten);
    const before = assignment(g);
    g.setWeight('s5', 30);
    const raised = assignment(g);
    let wrong = 0;
    for (let i = 0; i < CLIENTS; i++) if (raised[i] !== before[i] && raised[i] !== 's5') wrong++;
    g.setWeight('s5', 0);
    const drained = assignment(g);
    for (let i = 0; i < CLIENTS; i++) {
      if (drained[i] === 's5') wrong++;
      if (before[i] !== 's5' && drained[i] !== before[i]) wrong++;
    }
    expect(wrong).toBe(0);
    g.setWeight('s5', 10);
    expect(assignment(g)).toEqual(before);
  });

  it('IPv4-mapped IPv6 clients hash like the IPv4 they carry', () => {
    const g = group(ten);
    for (let i = 0; i < 1000; i++) {
      expect(g.next(`::ffff:${client(i)}`)?.name).toBe(g.next(client(i))?.name);
    }
  });

  it('property: the same server set gives the same answer, whatever the insertion order or instance', () => {
    const serverSet = fc.uniqueArray(
      fc.record({
        name: fc.stringMatching(/^[a-z0-9-]{1,12}$/),
        weight: fc.integer({ min: 1, max: 1000 }),
      }),
      { minLength: 1, maxLength: 12, selector: (s) => s.name },
    );
    const ip = fc.oneof(fc.ipV4(), fc.ipV6());
    fc.assert(
      fc.property(
        serverSet,
        fc.array(ip, { minLength: 1, maxLength: 20 }),
        fc.nat(),
        (servers, ips, rotate) => {
          const a = group(
            servers.map((s) => [s.name, s.weight] as const),
            'a',
          );
          const k = rotate % servers.length;
          const shuffled = [...servers.slice(k), ...servers.slice(0, k)].reverse();
          const b = group(
            shuffled.map((s) => [s.name, s.weight] as const),
            'b',
          );
          for (const addr of ips) {
            const first = a.next(addr)?.name;
            expect(first).toBeDefined();
            expect(a.next(addr)?.name).toBe(first);
            expect(b.next(addr)?.name).toBe(first);
          }
          for (const g of groups.splice(0)) void g.close();
        },
      ),
      { numRuns: 200 },
    );
  });
});
