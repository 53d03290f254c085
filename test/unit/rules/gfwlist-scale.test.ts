import { describe, expect, it } from 'vitest';
import { parseAbpList, RuleSet } from '../../../src/protocols/rules/index.js';

/** A gfwlist-shaped list: 6,000 rules in gfwlist's proportions of shapes. */
function syntheticGfwlist(): string {
  const lines = ['[AutoProxy 0.2.9]', '! synthetic'];
  for (let i = 0; i < 3000; i++) lines.push(`||site${i}.com`);
  for (let i = 0; i < 1500; i++) lines.push(`.site${i}.net`);
  for (let i = 0; i < 1000; i++) lines.push(`|http://site${i}.org/`);
  for (let i = 0; i < 300; i++) lines.push(`keyword${i}`);
  for (let i = 0; i < 100; i++) lines.push(`site${i}.info/path`);
  for (let i = 0; i < 50; i++) lines.push(`/^https?:\\/\\/[^\\/]+re${i}\\.example/`);
  for (let i = 0; i < 50; i++) lines.push(`@@||cn.site${i}.com`);
  return Buffer.from(lines.join('\n')).toString('base64');
}

describe('a 6,000-rule gfwlist', () => {
  const list = parseAbpList(syntheticGfwlist(), 'gfwlist');
  const rules = new RuleSet(list.rules);

  it('parses every rule', () => {
    expect(list.rules.length).toBe(6000);
    expect(list.skipped).toEqual([]);
  });

  it('answers correctly', () => {
    expect(rules.match('www.site2999.com', 443)?.action).toBe('proxy');
    expect(rules.match('a.cn.site7.com', 443)?.action).toBe('direct');
    expect(rules.match('x.site10.net', 443)?.action).toBe('proxy');
    expect(rules.match('site10.net', 443)).toBeNull();
    expect(rules.match('site5.org', 80)?.action).toBe('proxy');
    expect(rules.match('akeyword7b.example', 443)?.action).toBe('proxy');
    expect(rules.match('www.site3.info', 80)?.action).toBe('proxy');
    expect(rules.match('a.re49.example', 443)?.action).toBe('proxy');
    expect(rules.match('unlisted.example', 443)).toBeNull();
  });

  it('indexes its rules for lookup by host: only substring and regex rules are scanned', () => {
    // What keeps a lookup cheap is structural, so it is checked structurally (a timing
    // bound would measure the machine): every ||domain, .domain and |http://host rule
    // sits in a hash map probed once per label of the host; the list a lookup walks
    // holds the 300 keyword and 100 path rules and the regex list the 50 regexes.
    const { blocks, exceptions } = rules.indexes;
    expect(blocks.domains.size).toBe(3000);
    expect(blocks.subdomains.size).toBe(1500);
    expect(blocks.exact.size + blocks.domains.size + blocks.subdomains.size).toBe(5500);
    const scanned =
      blocks.contains.length + blocks.regexes.length + (blocks.endsWith.get('')?.length ?? 0);
    expect(scanned).toBeLessThanOrEqual(450);
    expect(blocks.regexes).toHaveLength(50);
    expect(exceptions.domains.size).toBe(50);
    expect(exceptions.size).toBe(50);
  });

  it('answers 30,000 lookups of 1,000 hosts, each as a single lookup does', () => {
    const hosts = Array.from({ length: 1000 }, (_, i) => `www.host${i}.site${i * 7}.com`);
    let proxied = 0;
    for (let round = 0; round < 30; round++) {
      for (const h of hosts) if (rules.match(h, 443)?.action === 'proxy') proxied++;
    }
    // site0.com … site2999.com are listed: hosts 0 … 428 (i * 7 < 3000) in every round.
    expect(proxied).toBe(429 * 30);
  });
});
