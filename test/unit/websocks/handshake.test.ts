import { describe, expect, it } from 'vitest';
import { RequestHeadReader, ResponseHeadReader } from '../../../src/protocols/http-proxy/index.js';
import {
  authorizationValue,
  buildSwitchingProtocols,
  buildUpgradeRequest,
  checkSwitchingProtocols,
  checkUpgradeRequest,
  computeAccept,
  hashPassword,
  hostHeaderFor,
  innerHash,
  isUpgradeAttempt,
  minuteOf,
  ReplayCache,
  SAMPLE_ACCEPT,
  SAMPLE_KEY,
  type UpgradeCheckOptions,
  verifyAuthorization,
  WebsocksError,
  WebsocksUsers,
} from '../../../src/protocols/websocks/index.js';

// 2019-12-19T11:08:00Z, the spec's example minute, plus 30 s.
const MINUTE = 1576753680000;
const NOW = MINUTE + 30_000;
const users = new WebsocksUsers([
  [' alice ', ' pässword '],
  ['bob', 'hunter2'],
]);

function requestHead(text: string) {
  const got = new RequestHeadReader().push(Buffer.from(text, 'latin1'));
  if (!got) throw new Error('incomplete head');
  return got;
}

function agentRequest(overrides: Partial<Parameters<typeof buildUpgradeRequest>[0]> = {}) {
  return buildUpgradeRequest({
    host: 'ws.example.com',
    port: 443,
    tls: true,
    user: 'alice',
    password: 'pässword',
    nowMs: NOW,
    ...overrides,
  }).toString('latin1');
}

function check(text: string, options: Partial<UpgradeCheckOptions> = {}) {
  const { head, leftover } = requestHead(text);
  return checkUpgradeRequest(head, leftover.length, { users, nowMs: NOW, ...options });
}

function refusal(fn: () => unknown): WebsocksError {
  try {
    fn();
  } catch (err) {
    if (err instanceof WebsocksError) return err;
    throw err;
  }
  throw new Error('not refused');
}

describe('password hash (§3.2)', () => {
  it('matches an independent computation (Python hashlib) for a known minute', () => {
    expect(minuteOf(NOW)).toBe(MINUTE);
    expect(innerHash('pässword')).toBe('NHgme1YSeRtAmIkGs6eJfrarUB4EuV7TL5nQr99mnZw=');
    expect(hashPassword('pässword', MINUTE)).toBe('YFzdVhze6ut6PhczEF/Q82wyz3hXAFoo388YFO1hQfk=');
    expect(authorizationValue('alice', 'pässword', NOW)).toBe(
      'Basic YWxpY2U6WUZ6ZFZoemU2dXQ2UGhjekVGL1E4Mnd5ejNoWEFGb28zODhZRk8xaFFmaz0=',
    );
  });

  it('accepts the current minute and one minute either side, nothing further', () => {
    const header = authorizationValue('alice', 'pässword', NOW);
    for (const skew of [-60_000, 0, 60_000]) {
      expect(verifyAuthorization(header, users, NOW + skew)).toEqual({
        user: 'alice',
        minute: MINUTE,
      });
    }
    expect(verifyAuthorization(header, users, MINUTE + 119_999).minute).toBe(MINUTE);
    for (const skew of [-90_000, 120_000, 3_600_000]) {
      expect(() => verifyAuthorization(header, users, MINUTE + skew)).toThrow(
        /wrong password or clock/,
      );
    }
  });

  it('refuses unknown users, wrong passwords and malformed values with 401', () => {
    const cases: [string | undefined, RegExp][] = [
      [undefined, /no Authorization/],
      ['Bearer x', /not Basic/],
      ['Basic ***', /not base64/],
      [`Basic ${Buffer.from('alice').toString('base64')}`, /do not split/],
      [`Basic ${Buffer.from('a:b:c').toString('base64')}`, /do not split/],
      [authorizationValue('carol', 'pässword', NOW), /unknown user/],
      [authorizationValue('alice', 'wrong', NOW), /wrong password/],
    ];
    for (const [value, why] of cases) {
      const err = refusal(() => verifyAuthorization(value, users, NOW));
      expect(err.code).toBe('ERR_WEBSOCKS_AUTH_FAILED');
      expect(err.status).toBe(401);
      expect(err.message).toMatch(why);
    }
  });

  it('trims names and passwords as the reference does, and refuses ":" in them', () => {
    expect(
      verifyAuthorization(authorizationValue(' alice', 'pässword ', NOW), users, NOW).user,
    ).toBe('alice');
    expect(() => new WebsocksUsers([['a:b', 'p']])).toThrow(/not allowed/);
    expect(() => WebsocksUsers.parse('a:b,c')).toThrow(/want user:pass/);
    expect(WebsocksUsers.parse('a:b, c:d').has('c')).toBe(true);
  });
});

describe('client upgrade request (§3.1)', () => {
  it('is byte for byte the reference request for a named server', () => {
    expect(agentRequest()).toBe(
      'GET / HTTP/1.1\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        'Host: ws.example.com\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
        'Sec-WebSocket-Version: 13\r\n' +
        'Sec-WebSocket-Protocol: socks5\r\n' +
        'Authorization: Basic YWxpY2U6WUZ6ZFZoemU2dXQ2UGhjekVGL1E4Mnd5ejNoWEFGb28zODhZRk8xaFFmaz0=\r\n' +
        '\r\n',
    );
  });

  it('writes ip[:port] in Host for a server configured by IP (the reference wrote "null")', () => {
    expect(hostHeaderFor('10.0.0.5', 443, true)).toBe('10.0.0.5');
    expect(hostHeaderFor('10.0.0.5', 8080, false)).toBe('10.0.0.5:8080');
    expect(hostHeaderFor('2001:db8::1', 80, true)).toBe('[2001:db8::1]:80');
    expect(hostHeaderFor('[::1]', 80, false)).toBe('[::1]');
    expect(agentRequest({ host: '::1', port: 9000, tls: false })).toContain(
      '\r\nHost: [::1]:9000\r\n',
    );
  });

  it('supports CDN mode: a Host header, a path and extra headers of its own', () => {
    const text = agentRequest({
      hostHeader: 'cdn.example.net',
      path: '/s3cret?x=1',
      extraHeaders: [['X-Cdn-Token', 'abc']],
    });
    expect(text.startsWith('GET /s3cret?x=1 HTTP/1.1\r\n')).toBe(true);
    expect(text).toContain('\r\nHost: cdn.example.net\r\n');
    expect(text.endsWith('\r\nX-Cdn-Token: abc\r\n\r\n')).toBe(true);
  });

  it('refuses options that would corrupt the request', () => {
    const bad: Partial<Parameters<typeof buildUpgradeRequest>[0]>[] = [
      { path: 'no-slash' },
      { path: '/a b' },
      { user: 'a:b' },
      { user: ' ' },
      { hostHeader: 'x\r\nEvil: 1' },
      { extraHeaders: [['Authorization', 'x']] },
      { extraHeaders: [['Bad Name', 'x']] },
      { extraHeaders: [['X', 'a\r\nb']] },
    ];
    for (const o of bad) {
      expect(refusal(() => agentRequest(o)).code).toBe('ERR_WEBSOCKS_REQUEST_INVALID');
    }
  });
});

describe('server check (§3.3), in the reference order', () => {
  it('accepts the agent request and names the user, minute and key', () => {
    expect(check(agentRequest())).toEqual({ user: 'alice', minute: MINUTE, key: SAMPLE_KEY });
  });

  const base = agentRequest();
  const swap = (from: string, to: string) => {
    if (!base.includes(from)) throw new Error(`no ${from}`);
    return base.replace(from, to);
  };
  const cases: [string, string, string, number][] = [
    ['POST', swap('GET /', 'POST /'), 'method', 400],
    ['Upgrade in another case', swap('Upgrade: websocket', 'Upgrade: WebSocket'), 'upgrade', 400],
    ['no Upgrade', swap('Upgrade: websocket\r\n', ''), 'upgrade', 400],
    [
      'Connection list',
      swap('Connection: Upgrade', 'Connection: keep-alive, Upgrade'),
      'upgrade',
      400,
    ],
    ['no Connection', swap('Connection: Upgrade\r\n', ''), 'upgrade', 400],
    ['key not base64', swap(SAMPLE_KEY, 'not*base64'), 'upgrade', 400],
    ['key of 18 bytes', swap(SAMPLE_KEY, 'AAAAAAAAAAAAAAAAAAAAAAAA'), 'upgrade', 400],
    [
      'two keys',
      swap('Sec-WebSocket-Version', `Sec-WebSocket-Key: ${SAMPLE_KEY}\r\nSec-WebSocket-Version`),
      'upgrade',
      400,
    ],
    ['version 8', swap('Version: 13', 'Version: 8'), 'upgrade', 400],
    ['a body', swap('\r\n\r\n', '\r\nContent-Length: 0\r\n\r\n'), 'upgrade', 400],
    ['pipelined bytes', `${base}\x82`, 'pipelined', 400],
    ['wrong password', agentRequest({ password: 'nope' }), 'auth', 401],
    ['stale minute', agentRequest({ nowMs: NOW - 180_000 }), 'auth', 401],
    ['no Authorization', base.replace(/Authorization: [^\r]*\r\n/, ''), 'auth', 401],
    ['protocol list', swap('Protocol: socks5', 'Protocol: socks5, chat'), 'protocol', 400],
    ['no protocol', swap('Sec-WebSocket-Protocol: socks5\r\n', ''), 'protocol', 400],
  ];
  it.each(cases)('%s → %s %i', (_name, text, check_, status) => {
    const err = refusal(() => check(text));
    expect(err.check).toBe(check_);
    expect(err.status).toBe(status);
  });

  it('accepts Connection in any case and socks5 among several protocol headers', () => {
    const text = base
      .replace('Connection: Upgrade', 'connection: UPGRADE')
      .replace(
        'Sec-WebSocket-Protocol: socks5',
        'Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: socks5',
      );
    expect(check(text).user).toBe('alice');
  });

  it('checks the method before the headers and the headers before the credentials', () => {
    const everythingWrong = 'PUT / HTTP/1.1\r\nAuthorization: Basic eA==\r\n\r\n';
    expect(refusal(() => check(everythingWrong)).check).toBe('method');
    const wrongHeadersAndAuth = base
      .replace('Upgrade: websocket', 'Upgrade: h2c')
      .replace('Basic ', 'Basic x');
    expect(refusal(() => check(wrongHeadersAndAuth)).check).toBe('upgrade');
  });

  it('only accepts the configured secret path (404 otherwise, before any auth)', () => {
    const onPath = agentRequest({ path: '/tunnel?v=1' });
    expect(check(onPath, { path: '/tunnel' }).user).toBe('alice');
    const err = refusal(() => check(agentRequest({ password: 'x' }), { path: '/tunnel' }));
    expect([err.check, err.status]).toEqual(['path', 404]);
  });

  it('tells web requests from upgrade attempts', () => {
    expect(isUpgradeAttempt(requestHead('GET / HTTP/1.1\r\nHost: a\r\n\r\n').head)).toBe(false);
    expect(isUpgradeAttempt(requestHead(base).head)).toBe(true);
  });

  it('refuses a replayed header, and forgets it once the window has passed', () => {
    const replay = new ReplayCache();
    expect(check(base, { replay }).user).toBe('alice');
    const again = refusal(() => check(base, { replay, nowMs: NOW + 60_000 }));
    expect([again.code, again.check, again.status]).toEqual([
      'ERR_WEBSOCKS_REPLAYED',
      'replay',
      401,
    ]);
    // After the window the hash itself is stale, and the cache has dropped the entry.
    const late = refusal(() => check(base, { replay, nowMs: MINUTE + 120_000 }));
    expect(late.code).toBe('ERR_WEBSOCKS_AUTH_FAILED');
    expect(replay.size(MINUTE + 120_000)).toBe(0);
  });

  it('records a header only when the whole request was accepted', () => {
    const replay = new ReplayCache();
    expect(() => check(base.replace('Protocol: socks5', 'Protocol: x'), { replay })).toThrow(
      WebsocksError,
    );
    expect(check(base, { replay }).user).toBe('alice');
  });
});

describe('replay cache bounds', () => {
  it('allows maxUses uses of one header per window', () => {
    const cache = new ReplayCache({ maxUses: 3 });
    for (let i = 0; i < 3; i++) {
      expect(cache.check('h', NOW)).toBe('fresh');
      cache.commit('h', MINUTE, NOW);
    }
    expect(cache.check('h', NOW)).toBe('replayed');
    expect(cache.size(NOW)).toBe(1);
  });

  it('refuses new headers when full instead of evicting live ones, and frees them on expiry', () => {
    const cache = new ReplayCache({ maxEntries: 2 });
    cache.commit('a', MINUTE, NOW);
    cache.commit('b', MINUTE + 60_000, NOW);
    expect(cache.check('c', NOW)).toBe('full');
    cache.commit('c', MINUTE, NOW);
    expect(cache.size(NOW)).toBe(2);
    expect(cache.check('a', NOW)).toBe('replayed');
    // Minute MINUTE expires when MINUTE + 2 min begins; MINUTE + 1 min a minute later.
    expect(cache.check('c', MINUTE + 120_000)).toBe('fresh');
    expect(cache.size(MINUTE + 120_000)).toBe(1);
    expect(cache.size(MINUTE + 180_000)).toBe(0);
  });

  it('refuses nonsense bounds', () => {
    expect(() => new ReplayCache({ maxEntries: 0 })).toThrow(RangeError);
    expect(() => new ReplayCache({ maxUses: 1.5 })).toThrow(RangeError);
  });
});

describe('101 response (§3.4)', () => {
  function responseHead(buf: Buffer) {
    const got = new ResponseHeadReader().push(buf);
    if (!got) throw new Error('incomplete');
    return got.head;
  }

  it('computes the RFC 6455 sample accept value', () => {
    expect(computeAccept(SAMPLE_KEY)).toBe(SAMPLE_ACCEPT);
  });

  it('is the reference 101 and passes the agent check', () => {
    const buf = buildSwitchingProtocols({
      key: SAMPLE_KEY,
      server: 'vproxy/1.0',
      date: 'Thu Dec 19 11:08:00 UTC 2019',
    });
    expect(buf.toString()).toBe(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Server: vproxy/1.0\r\n' +
        'Date: Thu Dec 19 11:08:00 UTC 2019\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-Websocket-Accept: ${SAMPLE_ACCEPT}\r\n` +
        'Sec-WebSocket-Protocol: socks5\r\n\r\n',
    );
    expect(() => checkSwitchingProtocols(responseHead(buf))).not.toThrow();
    expect(buildSwitchingProtocols({ key: SAMPLE_KEY }).toString()).not.toMatch(/Server|Date/);
  });

  it('accepts what nginx relays (lower-case upgrade token in a list)', () => {
    const text = `HTTP/1.1 101 Switching Protocols\r\nServer: nginx\r\nupgrade: websocket\r\nconnection: keep-alive, upgrade\r\nsec-websocket-accept: ${SAMPLE_ACCEPT}\r\n\r\n`;
    expect(() => checkSwitchingProtocols(responseHead(Buffer.from(text)))).not.toThrow();
  });

  const good = buildSwitchingProtocols({ key: SAMPLE_KEY }).toString();
  const bad: [string, string, number | null][] = [
    ['a 401', 'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\n\r\n', 401],
    ['a 200', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', 200],
    ['wrong accept', good.replace(SAMPLE_ACCEPT, computeAccept('x')), 101],
    ['no upgrade', good.replace('Upgrade: websocket\r\n', ''), 101],
    ['no connection', good.replace('Connection: Upgrade\r\n', ''), 101],
    ['content-length', good.replace('\r\n\r\n', '\r\nContent-Length: 0\r\n\r\n'), 101],
  ];
  it.each(bad)('refuses %s', (_name, text, status) => {
    const err = refusal(() => checkSwitchingProtocols(responseHead(Buffer.from(text))));
    expect(err.code).toBe('ERR_WEBSOCKS_RESPONSE_INVALID');
    expect(err.status).toBe(status);
  });

  it('checks the accept against a key of our own', () => {
    const key = Buffer.alloc(16, 7).toString('base64');
    const head = responseHead(buildSwitchingProtocols({ key }));
    expect(() => checkSwitchingProtocols(head, key)).not.toThrow();
    expect(() => checkSwitchingProtocols(head)).toThrow(/Accept/);
  });
});

// The Websocks-Ticket extension: a nonce per connection, spent once, so a busy agent is
// not capped at the Authorization header's budget and a captured request replays nowhere.
describe('Websocks-Ticket (our extension)', () => {
  const TICKET = /Websocks-Ticket: ([^\r]*)\r\n/;

  it('is only sent when asked: the default request is the reference agent’s', () => {
    expect(agentRequest()).not.toMatch(/Websocks-Ticket/i);
    expect(agentRequest({ ticket: true })).toMatch(
      /\r\nWebsocks-Ticket: [A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\r\n/,
    );
  });

  it('ticketed requests are not capped by the header budget: 2,000 in one minute pass', () => {
    const replay = new ReplayCache({ maxUses: 512 });
    for (let i = 0; i < 2_000; i++) {
      expect(check(agentRequest({ ticket: true }), { replay }).user).toBe('alice');
    }
  });

  it('a captured ticketed request replays nowhere, with or without its ticket', () => {
    const replay = new ReplayCache({ maxUses: 512 });
    const captured = agentRequest({ ticket: true });
    check(captured, { replay });
    expect(refusal(() => check(captured, { replay })).check).toBe('replay');
    // The same Authorization header without the ticket: spent with the first use.
    expect(refusal(() => check(captured.replace(TICKET, ''), { replay })).check).toBe('replay');
    // A minute later (the header still verifies): still refused.
    expect(refusal(() => check(captured, { replay, nowMs: NOW + 60_000 })).check).toBe('replay');
  });

  it('a forged, malformed or wrong-password ticket is an auth refusal (the site answers)', () => {
    const replay = new ReplayCache({ maxUses: 512 });
    const text = agentRequest({ ticket: true });
    const value = TICKET.exec(text)?.[1] as string;
    const last = value.at(-1) === 'A' ? 'B' : 'A';
    // The last character's two low bits are unused by base64url: a ticket
    // has one accepted spelling all the same (a flip there is refused too).
    const respelled = text.replace(value, `${value.slice(0, -1)}${last}`);
    const mid = value.length - 10;
    const forged = text.replace(
      value,
      `${value.slice(0, mid)}${value[mid] === 'A' ? 'B' : 'A'}${value.slice(mid + 1)}`,
    );
    const wrong = agentRequest({ ticket: true, password: 'wrong' });
    for (const bad of [
      respelled,
      forged,
      text.replace(value, 'x.y'),
      text.replace(value, TICKET.exec(wrong)?.[1] as string),
    ]) {
      const e = refusal(() => check(bad, { replay }));
      expect([e.check, e.status]).toEqual(['auth', 401]);
    }
  });

  it('a captured header re-spelled (spaces, re-encoded) shares its budget', () => {
    const replay = new ReplayCache({ maxUses: 2 });
    const legacy = agentRequest();
    const AUTH = /Authorization: Basic ([^\r]*)\r\n/;
    const token = AUTH.exec(legacy)?.[1] as string;
    const decoded = Buffer.from(token, 'base64').toString('utf8');
    const reencoded = Buffer.from(` ${decoded.replace(':', ' : ')} `, 'utf8').toString('base64');
    check(legacy, { replay });
    check(legacy.replace(token, reencoded), { replay });
    for (const respelled of [
      legacy,
      legacy.replace(token, reencoded),
      legacy.replace('Basic ', 'Basic  '),
    ]) {
      expect(refusal(() => check(respelled, { replay })).check).toBe('replay');
    }
  });

  it('reference agents (no ticket) keep the header budget', () => {
    const replay = new ReplayCache({ maxUses: 3 });
    const legacy = agentRequest();
    for (let i = 0; i < 3; i++) check(legacy, { replay });
    expect(refusal(() => check(legacy, { replay })).check).toBe('replay');
  });
});
