import { describe, expect, it } from 'vitest';
import {
  type AbpList,
  parseAbpList,
  parseDomainEntry,
  type RuleAction,
  RuleError,
  RuleSet,
  rulesFromEntries,
} from '../../../src/protocols/rules/index.js';

/** A list of domain entries, where `[abp]` stands for the ABP text given. */
function ruleSet(entries: string[], abp = '', fallback: RuleAction | null = null): RuleSet {
  const files = new Map<string, AbpList>([['abp', parseAbpList(abp, 'abp')]]);
  const parsed = entries.map((text, i) => ({ entry: parseDomainEntry(text, i + 1), line: i + 1 }));
  return new RuleSet(rulesFromEntries(parsed, 'test', files), { fallback });
}

type Case = [string, string[], string, string, number, RuleAction | null, (RuleAction | null)?];

// [what, entries, abp text, host, port, expected, fallback]
const cases: Case[] = [
  // Plain domain entries: suffix on dot boundaries (the reference used endsWith).
  ['suffix matches the domain itself', ['example.com'], '', 'example.com', 443, 'proxy'],
  ['suffix matches a subdomain', ['example.com'], '', 'a.b.example.com', 443, 'proxy'],
  [
    'QUIRK FIXED: no match across a label (badexample.com)',
    ['example.com'],
    '',
    'badexample.com',
    443,
    null,
  ],
  [
    'QUIRK FIXED: youtube.com does not match notyoutube.com',
    ['youtube.com'],
    '',
    'notyoutube.com',
    80,
    null,
  ],
  ['suffix does not match a longer TLD', ['example.com'], '', 'example.com.cn', 443, null],
  [
    'host case and trailing dot do not matter',
    ['Example.COM'],
    '',
    'WWW.example.com.',
    443,
    'proxy',
  ],
  ['leading dot: strict subdomains only', ['.example.com'], '', 'example.com', 443, null],
  ['leading dot matches a subdomain', ['.example.com'], '', 'x.example.com', 443, 'proxy'],
  ['*.domain is the same as .domain', ['*.example.com'], '', 'x.example.com', 443, 'proxy'],
  ['a domain rule never matches an IP host', ['com'], '', '1.2.3.4', 443, null],
  // Regex: whole host.
  ['regex must match the whole host', ['/goo.*/'], '', 'google.com', 443, 'proxy'],
  ['regex anchored: a partial match is not enough', ['/oogle/'], '', 'google.com', 443, null],
  [
    'regex is case-insensitive like host names',
    ['/.*\\.GOOGLE\\.com/'],
    '',
    'www.google.com',
    443,
    'proxy',
  ],
  // IP literals and networks.
  ['IPv4 literal matches exactly', ['10.1.2.3'], '', '10.1.2.3', 80, 'proxy'],
  ['IPv4 literal is not a suffix', ['0.1.2.3'], '', '10.1.2.3', 80, null],
  [
    'QUIRK FIXED: IPv6 literal matches however it is spelled',
    ['2001:db8::1'],
    '',
    '[2001:DB8:0:0:0:0:0:1]',
    443,
    'proxy',
  ],
  ['bracketed IPv6 entry', ['[::1]'], '', '::1', 443, 'proxy'],
  ['IPv4 CIDR', ['10.0.0.0/8'], '', '10.200.0.1', 443, 'proxy'],
  ['IPv4 CIDR outside', ['10.0.0.0/8'], '', '11.0.0.1', 443, null],
  ['IPv6 CIDR', ['2001:db8::/32'], '', '2001:db8:ffff::5', 443, 'proxy'],
  [
    'IPv4-mapped IPv6 host meets an IPv4 CIDR',
    ['192.168.0.0/16'],
    '',
    '::ffff:192.168.1.1',
    443,
    'proxy',
  ],
  ['an IPv4 CIDR never matches a name', ['10.0.0.0/8'], '', '10.example', 443, null],
  // Ports.
  ['port rule', [':14000'], '', 'anything.example', 14000, 'proxy'],
  ['port rule, other port', [':14000'], '', 'anything.example', 14001, null],
  // ABP lists.
  ['ABP ||domain^ matches the domain', ['[abp]'], '||google.com^', 'google.com', 443, 'proxy'],
  ['ABP ||domain matches subdomains', ['[abp]'], '||google.com', 'mail.google.com', 443, 'proxy'],
  ['ABP ||domain stops at dot boundaries', ['[abp]'], '||google.com', 'notgoogle.com', 443, null],
  [
    'ABP |http:// anchor: exact host',
    ['[abp]'],
    '|http://85.17.73.31/',
    '85.17.73.31',
    80,
    'proxy',
  ],
  [
    'ABP |http:// anchor: not a subdomain',
    ['[abp]'],
    '|http://example.org/x',
    'a.example.org',
    80,
    null,
  ],
  ['ABP .domain: subdomains', ['[abp]'], '.blogspot.com', 'x.blogspot.com', 443, 'proxy'],
  [
    'ABP plain substring (real ABP: inside the host)',
    ['[abp]'],
    'twitter',
    'mobile.twitter.com',
    443,
    'proxy',
  ],
  [
    'ABP substring with a path ends at the host end',
    ['[abp]'],
    'example.com/search',
    'www.example.com',
    80,
    'proxy',
  ],
  [
    'ABP substring with a path is not a prefix',
    ['[abp]'],
    'example.com/search',
    'example.com.evil',
    80,
    null,
  ],
  [
    'ABP regex against the URL forms',
    ['[abp]'],
    '/^https?:\\/\\/[^\\/]+blogspot\\.(.*)/',
    'a.blogspot.jp',
    443,
    'proxy',
  ],
  ['ABP wildcard', ['[abp]'], '||*.cdn.example^', 'x.y.cdn.example', 443, 'proxy'],
  [
    'ABP wildcard in the host: dot boundary at the end',
    ['[abp]'],
    '||cdn*.i-scmp.com',
    'a.cdn3.i-scmp.com',
    443,
    'proxy',
  ],
  [
    'ABP wildcard in the host: not a longer name',
    ['[abp]'],
    '||cdn*.i-scmp.com',
    'cdn3.i-scmp.com.evil',
    443,
    null,
  ],
  [
    'ABP wildcard after an anchor: that host shape',
    ['[abp]'],
    '|http://*.pimg.tw/',
    'a.b.pimg.tw',
    80,
    'proxy',
  ],
  [
    'ABP wildcard only in the path: the whole domain',
    ['[abp]'],
    '||addons.mozilla.org/*-*/firefox/',
    'addons.mozilla.org',
    443,
    'proxy',
  ],
  ['ABP wildcard substring', ['[abp]'], 'goo*le', 'www.goooogle.example', 443, 'proxy'],
  ['ABP options are ignored', ['[abp]'], '||ads.example^$third-party', 'ads.example', 443, 'proxy'],
  [
    'ABP comments and headers are not rules',
    ['[abp]'],
    '[AutoProxy 0.2.9]\n! ||google.com',
    'google.com',
    443,
    null,
  ],
  // Precedence: exceptions win wherever they are.
  [
    'QUIRK FIXED: @@ exception after the block wins',
    ['[abp]'],
    '||google.com\n@@||google.com',
    'google.com',
    443,
    'direct',
  ],
  [
    'exception before the block wins too',
    ['[abp]'],
    '@@||cn.google.com\n||google.com',
    'x.cn.google.com',
    443,
    'direct',
  ],
  [
    'exception does not leak to siblings',
    ['[abp]'],
    '@@||cn.google.com\n||google.com',
    'www.google.com',
    443,
    'proxy',
  ],
  [
    'QUIRK FIXED: @@||host matches only host and subdomains',
    ['[abp]'],
    '@@||a.com\n||b.a.com.evil',
    'b.a.com.evil',
    443,
    'proxy',
  ],
  [
    'QUIRK FIXED: @@|url means that host, not a prefix',
    ['[abp]'],
    '@@|http://a.com\n||a.com.cn',
    'a.com.cn',
    443,
    'proxy',
  ],
  [
    'QUIRK FIXED: @@/re/ is reachable',
    ['[abp]'],
    '||example.com\n@@/^https?:\\/\\/cn\\.example\\.com/',
    'cn.example.com',
    443,
    'direct',
  ],
  [
    'ABP exceptions override plain entries of the same list',
    ['example.com', '[abp]'],
    '@@||example.com',
    'example.com',
    443,
    'direct',
  ],
  // Fallback (the reference: proxy for ABP lists; here configurable).
  ['no rule, no fallback: no match', ['[abp]'], '||a.example', 'b.example', 443, null],
  ['no rule, fallback proxy', ['[abp]'], '||a.example', 'b.example', 443, 'proxy', 'proxy'],
  ['no rule, fallback direct', ['[abp]'], '||a.example', 'b.example', 443, 'direct', 'direct'],
  [
    'a matching rule beats the fallback',
    ['[abp]'],
    '||a.example',
    'a.example',
    443,
    'proxy',
    'direct',
  ],
];

describe('domain rules: table', () => {
  it('has at least 30 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  it.each(cases)('%s', (_what, entries, abp, host, port, expected, fallback = null) => {
    const verdict = ruleSet(entries, abp, fallback).match(host, port);
    expect(verdict?.action ?? null).toBe(expected);
  });
});

describe('domain rules: explanations and errors', () => {
  it('names the rule that decided, with its source and line', () => {
    const verdict = ruleSet(['a.example', '[abp]'], '! x\n||b.example\n@@||c.b.example').match(
      'c.b.example',
      1,
    );
    expect(verdict?.rule).toMatchObject({
      text: '@@||c.b.example',
      source: 'abp',
      line: 3,
      action: 'direct',
    });
    expect(ruleSet(['a.example'], '').match('x.a.example', 1)?.rule).toMatchObject({
      source: 'test',
      line: 1,
    });
  });

  const bad: [string, RegExp][] = [
    [':0', /port 1-65535/],
    [':65536', /port 1-65535/],
    [':x', /port/],
    ['/(unclosed/', /bad regular expression/],
    ['10.0.0.1/8', /host bits/],
    ['10.0.0.0/33', /prefix length/],
    ['exa mple.com', /not a domain/],
    ['http://example.com', /not a domain/],
    ['[', /ABP file/],
    ['', /empty/],
  ];
  it.each(bad)('refuses %j', (text, why) => {
    try {
      parseDomainEntry(text, 7);
      throw new Error('accepted');
    } catch (err) {
      expect(err).toBeInstanceOf(RuleError);
      expect((err as RuleError).line).toBe(7);
      expect((err as RuleError).message).toMatch(/^line 7: /);
      expect((err as RuleError).message).toMatch(why);
    }
  });

  it('needs every [file] loaded', () => {
    const entry = parseDomainEntry('[~/list.txt]');
    expect(entry).toEqual({ kind: 'abp-file', path: '~/list.txt', text: '[~/list.txt]' });
    expect(() => rulesFromEntries([{ entry, line: 3 }], 'x')).toThrow(/line 3: .*not loaded/);
  });
});
