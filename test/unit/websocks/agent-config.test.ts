import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AgentConfigError,
  expandServerCommand,
  parseAgentConfig,
  parseServerEntry,
} from '../../../src/protocols/websocks/index.js';

const HOME = '/home/alice';

/** A config in the reference's format using every key of §4.2. */
const FULL = `# vproxy websocks agent
agent.listen 11080
agent.httpconnect.listen 18080
agent.ss.listen 18388
agent.ss.password ss-secret
proxy.server.auth alice:pa55word
proxy.server.hc off
agent.cacerts.path ~/cas.pem
agent.cacerts.pswd changeit
agent.cert.verify on
agent.gateway on
agent.gateway.pac.address *:20080
agent.strict on
agent.pool 4

proxy.server.list.start
websockss://ws.example.com:443
websocks://10.0.0.5:80
websockss:kcp://[2001:db8::7]:443
websocks:kcp://2001:db8::8:8443
websockss://relay.example.com:443 ~/bin/relay --to $SERVER_IP:$SERVER_PORT --listen $LOCAL_PORT
proxy.server.list.end

proxy.domain.list.start
# gfwlist, as the reference's generator wrote it
[~/gfwlist.base64]
example.com
/.*\\.google\\..*/
:14000
10.0.0.0/8
proxy.domain.list.end

proxy.server.list.start JP
websocks://jp.example.com:80
proxy.server.list.end
proxy.domain.list.start JP
.jp
proxy.domain.list.end
`;

function configError(text: string): AgentConfigError {
  try {
    parseAgentConfig(text, { home: HOME });
  } catch (err) {
    if (err instanceof AgentConfigError) return err;
    throw err;
  }
  throw new Error('accepted');
}

describe('agent config (§4.2)', () => {
  it('reads every key of the reference format', () => {
    const c = parseAgentConfig(FULL, { home: HOME });
    expect(c).toMatchObject({
      socksListen: 11080,
      httpConnectListen: 18080,
      ssListen: 18388,
      ssPassword: 'ss-secret',
      auth: { user: 'alice', password: 'pa55word' },
      healthCheck: false,
      cacertsPath: '/home/alice/cas.pem',
      cacertsPassword: 'changeit',
      certVerify: true,
      gateway: true,
      pacAddress: { host: null, port: 20080 },
      strict: true,
      poolSize: 4,
    });
    expect(c.serverLists.map((l) => l.symbol)).toEqual(['DEFAULT', 'JP']);
    expect(
      c.serverLists[0]?.servers.map((s) => [
        s.scheme,
        s.tls,
        s.kcp,
        s.host,
        s.hostType,
        s.port,
        s.line,
      ]),
    ).toEqual([
      ['websockss', true, false, 'ws.example.com', 'name', 443, 17],
      ['websocks', false, false, '10.0.0.5', 'ipv4', 80, 18],
      ['websockss:kcp', true, true, '2001:db8::7', 'ipv6', 443, 19],
      ['websocks:kcp', false, true, '2001:db8::8', 'ipv6', 8443, 20],
      ['websockss', true, false, 'relay.example.com', 'name', 443, 21],
    ]);
    const domains = c.domainLists[0]?.entries ?? [];
    expect(domains.map((d) => [d.line, d.entry.kind])).toEqual([
      [26, 'abp-file'],
      [27, 'rule'],
      [28, 'rule'],
      [29, 'rule'],
      [30, 'rule'],
    ]);
    expect(domains[0]?.entry).toMatchObject({
      kind: 'abp-file',
      path: '/home/alice/gfwlist.base64',
    });
    expect(c.domainLists[1]).toMatchObject({ symbol: 'JP' });
  });

  it('is frozen all the way down', () => {
    const c = parseAgentConfig(FULL, { home: HOME });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.auth)).toBe(true);
    expect(Object.isFrozen(c.serverLists[0]?.servers)).toBe(true);
    expect(Object.isFrozen(c.serverLists[0]?.servers[0])).toBe(true);
    expect(Object.isFrozen(c.domainLists[0]?.entries[1])).toBe(true);
  });

  it('fills in the reference defaults', () => {
    const c = parseAgentConfig('proxy.server.auth u:p\r\n', { home: HOME });
    expect(c).toEqual({
      socksListen: 1080,
      httpConnectListen: null,
      ssListen: null,
      ssPassword: null,
      auth: { user: 'u', password: 'p' },
      healthCheck: true,
      cacertsPath: null,
      cacertsPassword: null,
      certVerify: true,
      gateway: false,
      pacAddress: null,
      strict: false,
      poolSize: 10,
      serverLists: [],
      domainLists: [],
    });
  });

  it('takes ON/Off in any case, an IPv6 PAC address in brackets, and a leading BOM', () => {
    const c = parseAgentConfig(
      '\uFEFFproxy.server.auth u:p\nagent.strict ON\nagent.gateway.pac.address [::1]:8000\n',
      {
        home: HOME,
      },
    );
    expect(c.strict).toBe(true);
    expect(c.pacAddress).toEqual({ host: '::1', port: 8000 });
  });

  it('merges lists opened twice for the same symbol', () => {
    const c = parseAgentConfig(
      'proxy.server.auth u:p\nproxy.server.list.start\nwebsocks://a:1\nproxy.server.list.end\nproxy.server.list.start DEFAULT\nwebsocks://b:2\nproxy.server.list.end\nproxy.domain.list.start\na.example\nproxy.domain.list.end\n',
      { home: HOME },
    );
    expect(c.serverLists[0]?.servers.map((s) => s.host)).toEqual(['a', 'b']);
  });

  const auth = 'proxy.server.auth u:p\n';
  const errors: [string, string, number, RegExp][] = [
    ['no auth', 'agent.listen 1\n', 0, /proxy.server.auth .* required/],
    ['auth with two colons', 'proxy.server.auth a:b:c\n', 1, /exactly one ':'/],
    ['auth with an empty user', 'proxy.server.auth :b\n', 1, /must not be empty/],
    ['unknown key', `${auth}agent.dns.listen 53\n`, 2, /unknown key "agent.dns.listen"/],
    ['key without value', `${auth}agent.listen\n`, 2, /needs a value/],
    ['duplicate key', `${auth}agent.listen 1\nagent.listen 2\n`, 3, /already set on line 2/],
    [
      'port 0 (quirk kept, with a hint)',
      `${auth}agent.httpconnect.listen 0\n`,
      2,
      /out of range.*leave the line out/,
    ],
    ['port too large', `${auth}agent.listen 70000\n`, 2, /out of range/],
    ['port not a number', `${auth}agent.listen http\n`, 2, /not a port/],
    [
      'same port twice',
      `${auth}agent.listen 1080\nagent.httpconnect.listen 1080\n`,
      3,
      /uses port 1080, as agent.listen/,
    ],
    [
      'ss port = default socks port',
      `${auth}agent.ss.listen 1080\nagent.ss.password x\n`,
      2,
      /as agent.listen/,
    ],
    ['ss without password', `${auth}agent.ss.listen 8388\n`, 2, /needs agent.ss.password/],
    ['bad switch', `${auth}agent.strict yes\n`, 2, /want on or off/],
    ['bad pool', `${auth}agent.pool -1\n`, 2, /whole number/],
    ['pac without port', `${auth}agent.gateway.pac.address 1.2.3.4\n`, 2, /ip:port/],
    ['pac bare IPv6', `${auth}agent.gateway.pac.address ::1:80\n`, 2, /brackets/],
    ['pac host name', `${auth}agent.gateway.pac.address agent.lan:80\n`, 2, /not an IP address/],
    ['JKS trust store', `${auth}agent.cacerts.path ~/cacerts.jks\n`, 2, /PEM bundle/],
    ['unclosed list', `${auth}proxy.server.list.start\nwebsocks://a:1\n`, 2, /never closed/],
    ['end without start', `${auth}proxy.domain.list.end\n`, 2, /without a matching/],
    [
      'nested list',
      `${auth}proxy.server.list.start\nproxy.domain.list.start\n`,
      3,
      /inside the list opened on line 2/,
    ],
    [
      'wrong end',
      `${auth}proxy.server.list.start\nwebsocks://a:1\nproxy.domain.list.end\n`,
      4,
      /inside the list/,
    ],
    ['symbol with a space', `${auth}proxy.server.list.start A B\n`, 2, /contains a space/],
    [
      'bad scheme',
      `${auth}proxy.server.list.start\nhttps://a:1\nproxy.server.list.end\n`,
      3,
      /not one of/,
    ],
    [
      'no scheme',
      `${auth}proxy.server.list.start\na:1\nproxy.server.list.end\n`,
      3,
      /scheme:\/\/host:port/,
    ],
    [
      'server without port',
      `${auth}proxy.server.list.start\nwebsocks://a\nproxy.server.list.end\n`,
      3,
      /missing port/,
    ],
    [
      'server port 0',
      `${auth}proxy.server.list.start\nwebsocks://a:0\nproxy.server.list.end\n`,
      3,
      /out of range/,
    ],
    [
      'server bad host',
      `${auth}proxy.server.list.start\nwebsocks://a_b!:1\nproxy.server.list.end\n`,
      3,
      /bad host/,
    ],
    [
      'empty server list',
      `${auth}proxy.server.list.start\nproxy.server.list.end\nproxy.domain.list.start\nproxy.domain.list.end\n`,
      2,
      /no servers/,
    ],
    [
      'server list without domain list',
      `${auth}proxy.server.list.start X\nwebsocks://a:1\nproxy.server.list.end\n`,
      2,
      /no proxy.domain.list.start X/,
    ],
    [
      'domain list without server list',
      `${auth}proxy.domain.list.start X\na.example\nproxy.domain.list.end\n`,
      2,
      /no proxy.server.list.start X/,
    ],
    [
      'bad domain entry',
      `${auth}proxy.domain.list.start\n/(/\nproxy.domain.list.end\n`,
      3,
      /bad regular expression/,
    ],
    [
      'port-0 domain entry',
      `${auth}proxy.domain.list.start\n:0\nproxy.domain.list.end\n`,
      3,
      /port 1-65535/,
    ],
  ];
  it.each(errors)('%s → line %#', (_what, text, line, why) => {
    const err = configError(text);
    expect(err.code).toBe('ERR_WEBSOCKS_CONFIG_INVALID');
    expect(err.line).toBe(line);
    if (line > 0) expect(err.message).toMatch(new RegExp(`^line ${line}: `));
    expect(err.message).toMatch(why);
  });
});

describe('server entries (§4.3)', () => {
  it('expands the external program command line', () => {
    const entry = parseServerEntry(
      'websockss://relay.example.com:443   ~/bin/r -s $SERVER_IP:$SERVER_PORT -l $LOCAL_PORT ~/x',
      9,
    );
    expect(entry.command).toBe('~/bin/r -s $SERVER_IP:$SERVER_PORT -l $LOCAL_PORT ~/x');
    expect(expandServerCommand(entry, HOME, 31234)).toBe(
      '/home/alice/bin/r -s relay.example.com:443 -l 31234 /home/alice/x',
    );
    expect(expandServerCommand(parseServerEntry('websocks://a:1', 1), HOME, 1)).toBeNull();
  });

  it('refuses port 0 and names that resolvers read as IPv4', () => {
    expect(() => parseServerEntry('websocks://127.1:80', 4)).toThrow(
      /line 4: .*neither a host name/,
    );
    expect(() => parseServerEntry('websocks://[::1]:0', 4)).toThrow(/out of range/);
  });
});

describe('agent config fuzzing', () => {
  it('answers garbage with AgentConfigError only', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400, unit: 'binary' }), (text) => {
        try {
          parseAgentConfig(text, { home: HOME });
        } catch (err) {
          expect(err).toBeInstanceOf(AgentConfigError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('answers configs assembled from real keys and random values with AgentConfigError only', () => {
    const key = fc.constantFrom(
      'agent.listen',
      'agent.httpconnect.listen',
      'agent.ss.listen',
      'agent.ss.password',
      'proxy.server.auth',
      'proxy.server.hc',
      'agent.cacerts.path',
      'agent.cacerts.pswd',
      'agent.cert.verify',
      'agent.gateway',
      'agent.gateway.pac.address',
      'agent.strict',
      'agent.pool',
    );
    const value = fc.oneof(
      fc.constantFrom('on', 'off', '0', '1080', '65536', 'u:p', '*:80', '[::1]:1', '~/x', '~'),
      fc.string({ maxLength: 12, unit: 'binary' }),
    );
    const line = fc.oneof(
      fc.tuple(key, value).map(([k, v]) => `${k} ${v}`),
      fc.constantFrom(
        'proxy.server.list.start',
        'proxy.server.list.end',
        'proxy.domain.list.start',
        'proxy.domain.list.end',
        'proxy.server.list.start X',
        'proxy.domain.list.start X',
        '# comment',
        '',
      ),
      fc
        .tuple(
          fc.constantFrom('websocks', 'websockss:kcp', 'ws'),
          fc.string({ maxLength: 16, unit: 'binary' }),
        )
        .map(([scheme, rest]) => `${scheme}://${rest}`),
      fc.string({ maxLength: 16, unit: 'binary' }),
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 20 }), (ls) => {
        const text = ['proxy.server.auth u:p', ...ls].join('\n');
        try {
          parseAgentConfig(text, { home: HOME });
        } catch (err) {
          expect(err).toBeInstanceOf(AgentConfigError);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('answers every mutation of a real config with a config or an AgentConfigError', () => {
    const lines = FULL.split('\n');
    const mutated = fc.oneof(
      // drop some lines
      fc
        .array(fc.boolean(), { minLength: lines.length, maxLength: lines.length })
        .map((keep) => lines.filter((_, i) => keep[i]).join('\n')),
      // replace one character
      fc
        .tuple(
          fc.nat({ max: FULL.length - 1 }),
          fc.string({ minLength: 1, maxLength: 1, unit: 'binary' }),
        )
        .map(([at, ch]) => FULL.slice(0, at) + ch + FULL.slice(at + 1)),
      // truncate
      fc.nat({ max: FULL.length }).map((n) => FULL.slice(0, n)),
      // shuffle-ish: swap two lines
      fc
        .tuple(fc.nat({ max: lines.length - 1 }), fc.nat({ max: lines.length - 1 }))
        .map(([a, b]) => {
          const copy = [...lines];
          [copy[a], copy[b]] = [copy[b] as string, copy[a] as string];
          return copy.join('\n');
        }),
    );
    fc.assert(
      fc.property(mutated, (text) => {
        try {
          const c = parseAgentConfig(text, { home: HOME });
          expect(Object.isFrozen(c)).toBe(true);
        } catch (err) {
          expect(err).toBeInstanceOf(AgentConfigError);
          const e = err as AgentConfigError;
          expect(e.line).toBeGreaterThanOrEqual(0);
          expect(e.line).toBeLessThanOrEqual(text.split(/\r?\n/).length);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
