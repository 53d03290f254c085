import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AuthThrottle,
  OVERFLOW_KEY,
  throttleKey,
} from '../../../src/control/controllers/auth-throttle.js';

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 0;
  return { now: () => t, advance: (ms) => (t += ms) };
}

const hex4 = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16));
const ipv6Groups = fc.array(hex4, { minLength: 8, maxLength: 8 });

/** One IPv6 spelling of `groups`: full, or with the longest run of zeros (if any) as `::`. */
function spell(groups: string[], compress: boolean): string {
  if (!compress) return groups.join(':');
  let best = -1;
  let len = 0;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > len) [best, len] = [i, j - i];
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + len).join(':')}`;
}

describe('throttleKey', () => {
  it('keys IPv4 as is, IPv4-mapped IPv6 as the IPv4, and unknowns together', () => {
    expect(throttleKey('10.1.2.3')).toBe('10.1.2.3');
    expect(throttleKey('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(throttleKey('::ffff:a01:203')).toBe('10.1.2.3');
    expect(throttleKey(undefined)).toBe('unknown');
    expect(throttleKey('not an address')).toBe('unknown');
    expect(throttleKey('::1')).toBe('0:0:0:0::/64');
    expect(throttleKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });

  it('every spelling of an IPv6 address, and every address of its /64, has one key', () => {
    fc.assert(
      fc.property(ipv6Groups, ipv6Groups, fc.boolean(), (a, b, compress) => {
        fc.pre(!(a.slice(0, 5).every((g) => g === '0') && a[5] === 'ffff'));
        const sameNet = [...a.slice(0, 4), ...b.slice(4)];
        const key = throttleKey(spell(a, false));
        expect(throttleKey(spell(a, compress))).toBe(key);
        expect(throttleKey(spell(a, compress).toUpperCase())).toBe(key);
        expect(throttleKey(spell(sameNet, compress))).toBe(key);
        expect(key).toBe(`${a.slice(0, 4).join(':')}::/64`);
      }),
    );
  });

  it('never throws, whatever the input', () => {
    fc.assert(fc.property(fc.string(), (s) => typeof throttleKey(s) === 'string'));
  });
});

describe('AuthThrottle', () => {
  it('allows a burst of failures, then one per refill interval', () => {
    const c = clock();
    const t = new AuthThrottle({ burst: 3, refillPerSecond: 2, now: c.now });
    for (let i = 0; i < 3; i++) {
      expect(t.allows('1.2.3.4')).toBe(true);
      t.fail('1.2.3.4');
    }
    expect(t.allows('1.2.3.4')).toBe(false);
    expect(t.retryAfterMs('1.2.3.4')).toBe(500);
    expect(t.allows('1.2.3.5')).toBe(true);
    c.advance(500);
    expect(t.allows('1.2.3.4')).toBe(true);
    t.fail('1.2.3.4');
    expect(t.allows('1.2.3.4')).toBe(false);
  });

  it('the table stays bounded: refilled buckets are dropped, then new addresses share one', () => {
    const c = clock();
    const t = new AuthThrottle({ burst: 1, refillPerSecond: 1, maxAddresses: 4, now: c.now });
    for (let i = 0; i < 4; i++) t.fail(`10.0.0.${i}`);
    t.fail('10.0.1.1');
    expect(t.size).toBe(5); // four addresses and the overflow bucket
    expect(t.allows('10.0.1.2')).toBe(false); // shares the drained overflow bucket
    for (let i = 0; i < 10_000; i++) t.fail(`10.${i >> 8}.${i & 255}.9`);
    expect(t.size).toBe(5);
    c.advance(1000);
    t.fail('10.0.2.1'); // the sweep drops the refilled buckets first
    expect(t.size).toBeLessThanOrEqual(5);
    expect(t.allows('10.0.0.1')).toBe(true);
    expect(OVERFLOW_KEY).toBe('*');
  });
});
