import { describe, expect, it } from 'vitest';
import { parseHint } from '../../../src/lb/host-match.js';
import type { Server } from '../../../src/lb/server.js';
import { type BackendGroup, Upstream } from '../../../src/lb/upstream.js';
import { seededRandom } from './fakes.js';

/** A group stand-in that answers with its own name (as a Server-shaped tag). */
class StubGroup implements BackendGroup {
  available = true;
  constructor(readonly name: string) {}
  next(): Server | null {
    return this.available ? ({ name: this.name } as Server) : null;
  }
}

function upstream(
  specs: [string, Partial<{ weight: number; hosts: string[]; isDefault: boolean }>][],
) {
  const u = new Upstream('u', seededRandom(5));
  const groups = new Map<string, StubGroup>();
  for (const [name, options] of specs) {
    const g = new StubGroup(name);
    groups.set(name, g);
    u.add(g, options);
  }
  return { u, groups };
}

describe('Upstream hint matching', () => {
  const { u } = upstream([
    ['example.com', {}],
    ['api', { hosts: ['api.example.com', 'API.other.org.'] }],
    ['deep', { hosts: ['x.api.example.com'] }],
    ['db.local:5432', {}],
    ['fallback', { isDefault: true, weight: 1 }],
  ]);
  const route = (hint: string | null) => u.next('10.0.0.1', hint)?.name;

  it('exact name or host wins, case-insensitively, ignoring a trailing dot and a port', () => {
    expect(route('example.com')).toBe('example.com');
    expect(route('EXAMPLE.COM.')).toBe('example.com');
    expect(route('api.example.com')).toBe('api');
    expect(route('api.other.org:443')).toBe('api');
    expect(route('db.local:5432')).toBe('db.local:5432'); // whole hint, port included
  });

  it('then the longest suffix at a label boundary', () => {
    expect(route('www.example.com')).toBe('example.com');
    expect(route('v1.api.example.com')).toBe('api');
    expect(route('a.x.api.example.com')).toBe('deep');
    expect(route('badexample.com')).toBe('fallback'); // not at a label boundary
  });

  it('no hint, an unmatched hint or garbage goes to the default groups', () => {
    expect(route(null)).toBe('fallback');
    expect(route('nothing.test')).toBe('fallback');
    expect(route(':::')).toBe('fallback');
    expect(route('')).toBe('fallback');
  });

  it('parses hints: brackets, ports, trailing dots', () => {
    expect(parseHint('[::1]:443')).toEqual({ full: '::1:443', host: '::1' });
    expect(parseHint('Example.COM.:80')).toEqual({ full: 'example.com:80', host: 'example.com' });
    expect(parseHint('   ')).toBeNull();
  });
});

describe('Upstream group selection', () => {
  it('spreads hint-less traffic over groups by weight (wrr, within 1% over 100,000 picks)', () => {
    const { u } = upstream([
      ['a', { weight: 1 }],
      ['b', { weight: 3 }],
      ['c', { weight: 6 }],
      ['zero', { weight: 0 }],
    ]);
    const counts = new Map<string, number>();
    for (let i = 0; i < 100_000; i++) {
      const n = u.next()?.name ?? '-';
      counts.set(n, (counts.get(n) ?? 0) + 1);
    }
    expect(counts.get('zero')).toBeUndefined();
    for (const [n, w] of [
      ['a', 0.1],
      ['b', 0.3],
      ['c', 0.6],
    ] as const) {
      expect(Math.abs((counts.get(n) ?? 0) / 100_000 - w)).toBeLessThanOrEqual(0.01);
    }
  });

  it('skips groups without an available server; a matched group answers even with none', () => {
    const { u, groups } = upstream([
      ['a.test', { weight: 1 }],
      ['b.test', { weight: 1 }],
    ]);
    (groups.get('a.test') as StubGroup).available = false;
    for (let i = 0; i < 10; i++) expect(u.next()?.name).toBe('b.test');
    expect(u.next(null, 'a.test')).toBeNull(); // no spill-over to another name's servers
    (groups.get('b.test') as StubGroup).available = false;
    expect(u.next()).toBeNull();
    expect(u.available).toBe(false);
  });

  it('weight-0 groups are reachable by hint only; updates and removal take effect at once', () => {
    const { u } = upstream([
      ['hidden.test', { weight: 0 }],
      ['open.test', { weight: 1 }],
    ]);
    expect(u.next(null, 'hidden.test')?.name).toBe('hidden.test');
    for (let i = 0; i < 5; i++) expect(u.next()?.name).toBe('open.test');
    u.update('hidden.test', { weight: 1, hosts: ['alias.test'] });
    expect(u.next(null, 'alias.test')?.name).toBe('hidden.test');
    expect(new Set(Array.from({ length: 4 }, () => u.next()?.name))).toEqual(
      new Set(['hidden.test', 'open.test']),
    );
    u.remove('hidden.test');
    expect(u.next(null, 'alias.test')?.name).toBe('open.test');
    expect(() => u.remove('hidden.test')).toThrow(
      expect.objectContaining({ code: 'ERR_NOT_FOUND' }),
    );
    expect(() => u.add(new StubGroup('open.test'))).toThrow(
      expect.objectContaining({ code: 'ERR_ALREADY_EXISTS' }),
    );
    expect(() => u.update('open.test', { weight: -2 })).toThrow(
      expect.objectContaining({ code: 'ERR_WEIGHT_INVALID' }),
    );
  });

  it('without default groups, unmatched hints spread over all groups', () => {
    const { u } = upstream([
      ['a.test', {}],
      ['b.test', {}],
    ]);
    expect(new Set(Array.from({ length: 4 }, () => u.next(null, 'other.test')?.name))).toEqual(
      new Set(['a.test', 'b.test']),
    );
  });
});
