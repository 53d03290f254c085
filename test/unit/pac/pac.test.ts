import vm from 'node:vm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generatePac, type PacOptions, proxyDirective } from '../../../src/protocols/pac/index.js';
import {
  parseAbpList,
  parseDomainEntry,
  Router,
  type RuleAction,
  RuleSet,
  rulesFromEntries,
} from '../../../src/protocols/rules/index.js';
import { abpLine, domainEntry, host, port } from '../rules/arbitraries.js';

/**
 * Load a PAC file the way a browser does: a fresh global scope holding the
 * standard helpers (Netscape's list). The DNS-based ones count their calls:
 * the generated file must route without resolving anything.
 */
function loadPac(source: string) {
  const calls = { dns: 0 };
  const sandbox = {
    dnsDomainIs: (h: string, d: string) => h.length >= d.length && h.endsWith(d),
    shExpMatch: (s: string, p: string) =>
      new RegExp(
        `^${p
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '.*')
          .replace(/\?/g, '.')}$`,
      ).test(s),
    isPlainHostName: (h: string) => !h.includes('.'),
    isInNet: () => {
      calls.dns++;
      return false;
    },
    dnsResolve: () => {
      calls.dns++;
      return null;
    },
    isResolvable: () => {
      calls.dns++;
      return false;
    },
    myIpAddress: () => '127.0.0.1',
  };
  const context = vm.createContext(sandbox);
  vm.runInContext(source, context, { timeout: 2000 });
  const find = vm.runInContext('FindProxyForURL', context) as (url: string, host: string) => string;
  return { find, calls };
}

function routerOf(
  lists: { symbol: string; entries: string[]; abp: string; fallback?: RuleAction | null }[],
  otherwise: 'direct' | { proxy: string } = 'direct',
): Router {
  return new Router(
    lists.map(({ symbol, entries, abp, fallback }) => {
      const files = new Map([['abp', parseAbpList(abp, 'abp')]]);
      const parsed = entries.map((t, i) => ({ entry: parseDomainEntry(t, i + 1), line: i + 1 }));
      return {
        symbol,
        rules: new RuleSet(rulesFromEntries(parsed, symbol, files), { fallback: fallback ?? null }),
      };
    }),
    { otherwise },
  );
}

const agent: PacOptions = {
  socks: { host: '10.0.0.2', port: 11080 },
  http: { host: '10.0.0.2', port: 18080 },
};
const PROXY = 'SOCKS5 10.0.0.2:11080; PROXY 10.0.0.2:18080';

describe('PAC generation', () => {
  it('writes the agent endpoints into the directive', () => {
    expect(proxyDirective(agent)).toBe(PROXY);
    expect(proxyDirective({ socks: { host: '::1', port: 1080 }, fallbackDirect: true })).toBe(
      'SOCKS5 [::1]:1080; DIRECT',
    );
    expect(proxyDirective({ http: { host: 'agent.lan', port: 8080 } })).toBe(
      'PROXY agent.lan:8080',
    );
    expect(() => proxyDirective({})).toThrow(RangeError);
    expect(() => proxyDirective({ socks: { host: 'a"b', port: 1 } })).toThrow(RangeError);
    expect(() => proxyDirective({ socks: { host: 'a', port: 0 } })).toThrow(RangeError);
  });

  it('routes each rule form as the agent does, without any DNS lookup', () => {
    const router = routerOf([
      {
        symbol: 'DEFAULT',
        entries: [
          'example.com',
          '10.0.0.0/8',
          '2001:db8::/32',
          ':14000',
          '/.*\\.re\\.example/',
          '[abp]',
        ],
        abp: '||google.com\n@@||cn.google.com\n.blogspot.com\n|http://1.2.3.4/\ntwitter\n||__proto__',
      },
    ]);
    const { find, calls } = loadPac(generatePac(router, agent));
    const cases: [string, string, string][] = [
      ['https://example.com/', 'example.com', PROXY],
      ['https://a.example.com/', 'a.example.com', PROXY],
      ['https://badexample.com/', 'badexample.com', 'DIRECT'],
      ['http://10.9.8.7/', '10.9.8.7', PROXY],
      ['http://11.0.0.1/', '11.0.0.1', 'DIRECT'],
      ['http://[2001:db8::5]/', '2001:db8::5', PROXY],
      ['http://[2001:db8::5]/', '[2001:DB8::5]', PROXY],
      ['http://x.org:14000/', 'x.org', PROXY],
      ['http://x.org/', 'x.org', 'DIRECT'],
      ['https://a.re.example/', 'a.re.example', PROXY],
      ['https://www.google.com/', 'www.google.com', PROXY],
      ['https://x.cn.google.com/', 'x.cn.google.com', 'DIRECT'],
      ['https://blogspot.com/', 'blogspot.com', 'DIRECT'],
      ['https://a.blogspot.com/', 'a.blogspot.com', PROXY],
      ['http://1.2.3.4/', '1.2.3.4', PROXY],
      ['https://mobile.twitter.com/', 'mobile.twitter.com', PROXY],
      ['https://__proto__/', '__proto__', PROXY],
      ['https://hasownproperty/', 'hasOwnProperty', 'DIRECT'],
      ['https://constructor/', 'constructor', 'DIRECT'],
    ];
    for (const [url, h, expected] of cases)
      expect([url, h, find(url, h)]).toEqual([url, h, expected]);
    expect(calls.dns).toBe(0);
  });

  it('honours list fallbacks and the router default', () => {
    const router = routerOf(
      [
        { symbol: 'A', entries: ['[abp]'], abp: '@@||home.example', fallback: 'proxy' },
        { symbol: 'DEFAULT', entries: ['x.example'], abp: '' },
      ],
      { proxy: 'DEFAULT' },
    );
    const { find } = loadPac(generatePac(router, agent));
    expect(find('https://home.example/', 'home.example')).toBe('DIRECT');
    expect(find('https://other.example/', 'other.example')).toBe(PROXY);
    const onlyDefault = loadPac(
      generatePac(
        routerOf([{ symbol: 'DEFAULT', entries: ['x.example'], abp: '' }], { proxy: 'DEFAULT' }),
        agent,
      ),
    );
    expect(onlyDefault.find('https://y.example/', 'y.example')).toBe(PROXY);
  });

  it('answers exactly as the agent router for random rules, hosts and ports', () => {
    const list = fc.record({
      entries: fc.array(domainEntry, { maxLength: 8 }),
      abp: fc.array(abpLine, { maxLength: 10 }).map((l) => l.join('\n')),
      fallback: fc.constantFrom<RuleAction | null>(null, null, 'proxy', 'direct'),
    });
    fc.assert(
      fc.property(
        fc.array(list, { minLength: 1, maxLength: 3 }),
        fc.constantFrom<'direct' | { proxy: string }>('direct', { proxy: 'DEFAULT' }),
        fc.array(fc.tuple(host, port, fc.constantFrom('http', 'https', 'ws')), {
          minLength: 1,
          maxLength: 25,
        }),
        (lists, otherwise, targets) => {
          const router = routerOf(
            lists.map((l, i) => ({
              symbol: i === 0 ? 'DEFAULT' : `S${i}`,
              entries: [...l.entries, '[abp]'],
              abp: l.abp,
              fallback: l.fallback,
            })),
            otherwise,
          );
          const { find, calls } = loadPac(generatePac(router, agent));
          for (const [h, p, scheme] of targets) {
            const bare = h.startsWith('[') ? h.slice(1, -1) : h;
            const inUrl = bare.includes(':') ? `[${bare}]` : bare;
            const url = `${scheme}://${inUrl}:${p}/path?q`;
            const expected = router.route(h, p).action === 'proxy' ? PROXY : 'DIRECT';
            expect([url, h, find(url, h)]).toEqual([url, h, expected]);
          }
          expect(calls.dns).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('takes the port from the URL, or the scheme default', () => {
    const router = routerOf([{ symbol: 'DEFAULT', entries: [':443', ':21'], abp: '' }]);
    const { find } = loadPac(generatePac(router, agent));
    expect(find('https://a.example/', 'a.example')).toBe(PROXY);
    expect(find('wss://a.example/', 'a.example')).toBe(PROXY);
    expect(find('ftp://a.example/', 'a.example')).toBe(PROXY);
    expect(find('http://a.example/', 'a.example')).toBe('DIRECT');
    expect(find('http://user:pw@a.example:443/', 'a.example')).toBe(PROXY);
    expect(find('http://[::1]:443/', '::1')).toBe(PROXY);
  });

  it('stays small and loads fast for a 6,000-rule gfwlist', () => {
    const lines = ['[AutoProxy 0.2.9]'];
    for (let i = 0; i < 6000; i++)
      lines.push(i % 3 === 0 ? `||s${i}.com` : i % 3 === 1 ? `.s${i}.net` : `|http://s${i}.org/`);
    const router = routerOf([
      {
        symbol: 'DEFAULT',
        entries: ['[abp]'],
        abp: Buffer.from(lines.join('\n')).toString('base64'),
      },
    ]);
    const pac = generatePac(router, agent);
    expect(pac.length).toBeLessThan(200_000);
    const { find } = loadPac(pac);
    expect(find('https://www.s3.com/', 'www.s3.com')).toBe(PROXY);
    expect(find('https://s4.net/', 's4.net')).toBe('DIRECT');
    expect(find('https://a.s4.net/', 'a.s4.net')).toBe(PROXY);
  });
});
