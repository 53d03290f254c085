import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  HostIndex,
  type HostPattern,
  parseAbpLine,
  parseDomainEntry,
  patternMatches,
  Router,
  RuleSet,
  ruleHost,
} from '../../../src/protocols/rules/index.js';
import { abpLine, domainEntry, host, port } from './arbitraries.js';

function patternsOf(entries: string[], abp: string[]): HostPattern[] {
  const out: HostPattern[] = [];
  for (const e of entries) {
    const parsed = parseDomainEntry(e);
    if (parsed.kind === 'rule') out.push(parsed.pattern);
  }
  for (const l of abp) {
    const parsed = parseAbpLine(l);
    if (parsed.kind === 'rule') out.push(parsed.pattern);
  }
  return out;
}

describe('compiled index', () => {
  it('finds a match exactly when the linear reference semantics find one', () => {
    fc.assert(
      fc.property(
        fc.array(domainEntry, { maxLength: 12 }),
        fc.array(abpLine, { maxLength: 12 }),
        fc.array(fc.tuple(host, port), { minLength: 1, maxLength: 20 }),
        (entries, abp, targets) => {
          const patterns = patternsOf(entries, abp);
          const index = new HostIndex<HostPattern>();
          for (const p of patterns) index.add(p, p);
          for (const [h, p] of targets) {
            const rh = ruleHost(h);
            const found = index.find(rh, p);
            const linear = patterns.some((pat) => patternMatches(pat, rh, p));
            expect(found !== undefined).toBe(linear);
            if (found) expect(patternMatches(found, rh, p)).toBe(true);
          }
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('applies ABP precedence whatever the order of the rules', () => {
    fc.assert(
      fc.property(
        fc.array(abpLine, { minLength: 1, maxLength: 12 }),
        fc.array(fc.tuple(host, port), { minLength: 1, maxLength: 10 }),
        fc.nat(),
        (lines, targets, seed) => {
          const rotated = [
            ...lines.slice(seed % lines.length),
            ...lines.slice(0, seed % lines.length),
          ];
          const toRules = (ls: string[]) =>
            ls.flatMap((text, i) => {
              const p = parseAbpLine(text);
              return p.kind === 'rule'
                ? [{ pattern: p.pattern, action: p.action, text, source: 't', line: i + 1 }]
                : [];
            });
          const a = new RuleSet(toRules(lines));
          const b = new RuleSet(toRules(rotated));
          for (const [h, p] of targets) {
            const rh = ruleHost(h);
            const rules = toRules(lines);
            const anyException = rules.some(
              (r) => r.action === 'direct' && patternMatches(r.pattern, rh, p),
            );
            const anyBlock = rules.some(
              (r) => r.action === 'proxy' && patternMatches(r.pattern, rh, p),
            );
            const expected = anyException ? 'direct' : anyBlock ? 'proxy' : null;
            expect(a.match(h, p)?.action ?? null).toBe(expected);
            expect(b.match(h, p)?.action ?? null).toBe(expected);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('router (§4.5)', () => {
  const set = (abp: string, fallback: 'proxy' | 'direct' | null = null) =>
    new RuleSet(
      abp.split('\n').flatMap((text, i) => {
        const p = parseAbpLine(text);
        return p.kind === 'rule'
          ? [{ pattern: p.pattern, action: p.action, text, source: 's', line: i + 1 }]
          : [];
      }),
      { fallback },
    );

  it('asks DEFAULT last, the others in order, and stops at the first verdict', () => {
    const router = new Router([
      { symbol: 'DEFAULT', rules: set('||example.com') },
      { symbol: 'US', rules: set('||us.example.com\n@@||direct.example.com') },
      { symbol: 'JP', rules: set('||jp.example.com') },
    ]);
    expect(router.lists.map((l) => l.symbol)).toEqual(['US', 'JP', 'DEFAULT']);
    expect(router.route('a.us.example.com', 443)).toMatchObject({ action: 'proxy', symbol: 'US' });
    expect(router.route('jp.example.com', 443)).toMatchObject({ action: 'proxy', symbol: 'JP' });
    expect(router.route('www.example.com', 443)).toMatchObject({
      action: 'proxy',
      symbol: 'DEFAULT',
    });
    // An exception is decisive: DEFAULT would have proxied it.
    expect(router.route('direct.example.com', 443)).toMatchObject({ action: 'direct' });
    expect(router.route('other.org', 443)).toEqual({ action: 'direct', rule: null });
  });

  it('sends unmatched targets where configured', () => {
    const router = new Router([{ symbol: 'DEFAULT', rules: set('||a.example') }], {
      otherwise: { proxy: 'DEFAULT' },
    });
    expect(router.route('b.example', 80)).toEqual({
      action: 'proxy',
      symbol: 'DEFAULT',
      rule: null,
    });
  });

  it('lets a list fallback decide before later lists are asked', () => {
    const router = new Router([
      { symbol: 'A', rules: set('||a.example', 'proxy') },
      { symbol: 'DEFAULT', rules: set('||b.example') },
    ]);
    expect(router.route('b.example', 80)).toMatchObject({ action: 'proxy', symbol: 'A' });
  });
});
