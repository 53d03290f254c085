import { describe, expect, it } from 'vitest';
import {
  formatBasicAuthorization,
  HttpError,
  interpretProxyRequest,
  ProxyRequestReader,
  parseAuthority,
  parseBasicAuthorization,
  RequestHeadReader,
} from '../../../src/protocols/http-proxy/index.js';

const enc = (s: string) => Buffer.from(s, 'latin1');

function read(text: string, limits = {}) {
  const reader = new ProxyRequestReader(limits);
  const out = reader.push(enc(text));
  if (out === null) throw new Error('incomplete');
  return out;
}

function errorOf(fn: () => unknown): HttpError {
  try {
    fn();
  } catch (err) {
    if (err instanceof HttpError) return err;
    throw err;
  }
  throw new Error('no error');
}

describe('CONNECT targets', () => {
  const ok: [string, string, string, number][] = [
    ['example.com:443', 'example.com', 'name', 443],
    ['Example.COM.:443', 'example.com', 'name', 443],
    ['_dmarc.example.com:1', '_dmarc.example.com', 'name', 1],
    ['10.1.2.3:65535', '10.1.2.3', 'ipv4', 65535],
    ['[::1]:443', '::1', 'ipv6', 443],
    ['[2001:DB8:0:0::1]:8443', '2001:db8::1', 'ipv6', 8443],
    ['[::ffff:1.2.3.4]:80', '::ffff:1.2.3.4', 'ipv6', 80],
  ];
  it.each(ok)('%s → %s', (authority, host, hostType, port) => {
    const { request, leftover } = read(`CONNECT ${authority} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(request.kind).toBe('connect');
    if (request.kind !== 'connect') return;
    expect(request.target).toEqual({ host, hostType, port });
    expect(leftover.length).toBe(0);
  });

  const bad: [string, string][] = [
    ['example.com:0', 'port 0'],
    ['example.com:65536', 'out of range'],
    ['example.com', 'missing port'],
    ['example.com:', 'bad port'],
    ['example.com:+80', 'bad port'],
    ['::1:443', 'must be in brackets'],
    ['2001:db8::1:443', 'must be in brackets'],
    ['[::1]443', 'unexpected'],
    ['[::1:443', 'unclosed'],
    ['[1.2.3.4]:80', 'not an IPv6'],
    ['[fe80::1%25eth0]:80', 'not an IPv6'],
    ['127.1:80', 'neither a host name'],
    ['0x7f.0.0.1:80', 'neither a host name'],
    ['1.2.3.999:80', 'neither a host name'],
    ['exa mple.com:80', 'bad request line'],
    ['-bad.com:80', 'bad host name'],
    ['a..b:80', 'bad host name'],
    ['user@host:80', 'bad host name'],
  ];
  it.each(bad)('%s is refused (%s)', (authority, why) => {
    const err = errorOf(() => read(`CONNECT ${authority} HTTP/1.1\r\n\r\n`));
    expect(err.status).toBe(400);
    expect(err.message).toContain(why);
  });

  it('keeps the bytes after the head as leftover (a pipelined ClientHello)', () => {
    const { leftover } = read('CONNECT a.example:443 HTTP/1.1\r\n\r\n\x16\x03\x01rest');
    expect(leftover.toString('latin1')).toBe('\x16\x03\x01rest');
  });
});

describe('absolute-URI requests', () => {
  it('rewrites to origin-form, drops hop-by-hop and Proxy-* headers, keeps the rest byte-exact', () => {
    const { request, leftover } = read(
      'POST http://Example.com:8080/a/b?q=1#frag HTTP/1.1\r\n' +
        'Host: example.com:8080\r\n' +
        'X-Odd:   spaced  value \t\r\n' +
        'Proxy-Authorization: Basic dTpw\r\n' +
        'Proxy-Connection: keep-alive\r\n' +
        'Connection: keep-alive, X-Secret\r\n' +
        'Keep-Alive: timeout=5\r\n' +
        'X-Secret: drop me\r\n' +
        'TE: trailers\r\n' +
        'Upgrade: h2c\r\n' +
        'content-length: 4\r\n' +
        'Accept: */*\r\n\r\nbody',
    );
    expect(request.kind).toBe('forward');
    if (request.kind !== 'forward') return;
    expect(request.target).toEqual({ host: 'example.com', hostType: 'name', port: 8080 });
    expect(request.credentials).toEqual({ user: 'u', password: 'p' });
    expect(request.forwardHead.toString('latin1')).toBe(
      'POST /a/b?q=1 HTTP/1.1\r\n' +
        'Host: example.com:8080\r\n' +
        'X-Odd:   spaced  value \t\r\n' +
        'content-length: 4\r\n' +
        'Accept: */*\r\n' +
        'Connection: close\r\n\r\n',
    );
    expect(leftover.toString()).toBe('body');
  });

  it('adds a missing Host first and replaces one naming another authority', () => {
    const added = read('GET http://[::1]/ HTTP/1.0\r\nA: b\r\n\r\n').request;
    expect(added.kind === 'forward' && added.forwardHead.toString()).toBe(
      'GET / HTTP/1.0\r\nHost: [::1]\r\nA: b\r\nConnection: close\r\n\r\n',
    );
    const replaced = read('GET http://a.example?x HTTP/1.1\r\nhost: evil.example\r\n\r\n').request;
    expect(replaced.kind === 'forward' && replaced.forwardHead.toString()).toBe(
      'GET /?x HTTP/1.1\r\nhost: a.example\r\nConnection: close\r\n\r\n',
    );
    const kept = read('GET http://a.example:80 HTTP/1.1\r\nHOST:  A.example:80\r\n\r\n').request;
    expect(kept.kind === 'forward' && kept.forwardHead.toString()).toBe(
      'GET / HTTP/1.1\r\nHOST:  A.example:80\r\nConnection: close\r\n\r\n',
    );
  });

  it('keeps body framing headers even when Connection names them', () => {
    const r = read(
      'POST http://a.example/ HTTP/1.1\r\nConnection: content-length, host\r\nContent-Length: 0\r\n\r\n',
    ).request;
    expect(r.kind === 'forward' && r.forwardHead.toString()).toBe(
      'POST / HTTP/1.1\r\nHost: a.example\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
    );
  });

  const refused: [string, string, number][] = [
    ['GET https://a.example/ HTTP/1.1\r\n\r\n', 'ERR_HTTP_PROXY_UNSUPPORTED', 501],
    ['GET ftp://a.example/ HTTP/1.1\r\n\r\n', 'ERR_HTTP_PROXY_UNSUPPORTED', 501],
    ['GET mailto:x HTTP/1.1\r\n\r\n', 'ERR_HTTP_PROXY_UNSUPPORTED', 501],
    ['GET http://u:p@a.example/ HTTP/1.1\r\n\r\n', 'ERR_HTTP_PROXY_TARGET_INVALID', 400],
    ['GET http:///x HTTP/1.1\r\n\r\n', 'ERR_HTTP_PROXY_TARGET_INVALID', 400],
    ['GET http://a.example:0/ HTTP/1.1\r\n\r\n', 'ERR_HTTP_PROXY_TARGET_INVALID', 400],
    ['GET http://a/ HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n', 'ERR_HTTP_MALFORMED', 400],
    [
      'POST http://a/ HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
      'ERR_HTTP_MALFORMED',
      400,
    ],
    ['POST http://a/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n', 'ERR_HTTP_MALFORMED', 400],
    [
      'POST http://a/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n',
      'ERR_HTTP_MALFORMED',
      400,
    ],
  ];
  it.each(refused)('%j → %s', (text, code, status) => {
    const err = errorOf(() => read(text));
    expect(err.code).toBe(code);
    expect(err.status).toBe(status);
  });

  it('hands origin-form and asterisk-form requests to the front end itself', () => {
    expect(read('GET /proxy.pac HTTP/1.1\r\n\r\n').request.kind).toBe('local');
    expect(read('OPTIONS * HTTP/1.1\r\n\r\n').request.kind).toBe('local');
  });
});

describe('head syntax and bounds', () => {
  const malformed: [string, string][] = [
    ['GET http://a/ HTTP/1.1\nHost: a\r\n\r\n', 'bare LF'],
    ['GET http://a/ HTTP/1.1\r\nHost: a\rX\r\n\r\n', 'bare CR'],
    ['\r\nGET http://a/ HTTP/1.1\r\n\r\n', 'empty line'],
    ['GET  http://a/ HTTP/1.1\r\n\r\n', 'bad request line'],
    ['GET http://a/ HTTP/2.0\r\n\r\n', 'HTTP version'],
    ['G(T http://a/ HTTP/1.1\r\n\r\n', 'bad method'],
    ['GET http://a/ HTTP/1.1\r\nHost : a\r\n\r\n', 'bad header name'],
    ['GET http://a/ HTTP/1.1\r\nA: b\r\n folded\r\n\r\n', 'obs-fold'],
    ['GET http://a/ HTTP/1.1\r\nnocolon\r\n\r\n', 'without a colon'],
    ['GET http://a/ HTTP/1.1\r\nA: b\x00c\r\n\r\n', 'control character'],
    ['CONNECT a:1 HTTP/1.1\r\nProxy-Authorization: Basic !!\r\n\r\n', 'not base64'],
    ['CONNECT a:1 HTTP/1.1\r\nProxy-Authorization: Basic dXNlcg==\r\n\r\n', "no ':'"],
  ];
  it.each(malformed)('%j → 400 (%s)', (text, why) => {
    const err = errorOf(() => read(text));
    expect(err.code).toBe('ERR_HTTP_MALFORMED');
    expect(err.status).toBe(400);
    expect(err.message).toContain(why);
  });

  it('refuses a garbage first line as soon as its CRLF arrives', () => {
    const reader = new RequestHeadReader();
    expect(() => reader.push(enc('\x16\x03\x01\x02\x00 hello\r\n'))).toThrow(HttpError);
  });

  it('refuses a head past maxHeadBytes with 431, even when it never ends', () => {
    const reader = new RequestHeadReader({ maxHeadBytes: 64 });
    expect(reader.push(enc('GET http://a/ HTTP/1.1\r\n'))).toBeNull();
    const err = errorOf(() => reader.push(enc(`X: ${'a'.repeat(100)}`)));
    expect(err.code).toBe('ERR_HTTP_HEAD_TOO_LARGE');
    expect(err.status).toBe(431);
    // A head of exactly the bound is fine.
    const exact = `GET http://a/ HTTP/1.1\r\nX: ${'a'.repeat(64 - 24 - 3 - 4)}\r\n\r\n`;
    expect(exact.length).toBe(64);
    expect(new RequestHeadReader({ maxHeadBytes: 64 }).push(enc(exact))).not.toBeNull();
    expect(() => new RequestHeadReader({ maxHeadBytes: 63 }).push(enc(exact))).toThrow(
      /larger than 63/,
    );
  });

  it('refuses more than maxHeaders header lines with 431', () => {
    const lines = (n: number) => Array.from({ length: n }, (_, i) => `H${i}: v\r\n`).join('');
    const ok = new RequestHeadReader({ maxHeaders: 3 }).push(
      enc(`GET / HTTP/1.1\r\n${lines(3)}\r\n`),
    );
    expect(ok?.head.headers.length).toBe(3);
    const err = errorOf(() =>
      new RequestHeadReader({ maxHeaders: 3 }).push(enc(`GET / HTTP/1.1\r\n${lines(4)}`)),
    );
    expect(err.code).toBe('ERR_HTTP_TOO_MANY_HEADERS');
  });

  it('keeps failing after a refusal instead of resynchronising', () => {
    const reader = new RequestHeadReader();
    expect(() => reader.push(enc('bad\r\n'))).toThrow(HttpError);
    expect(() => reader.push(enc('GET / HTTP/1.1\r\n\r\n'))).toThrow(HttpError);
  });

  it('interprets a parsed head without a reader too', () => {
    const got = new RequestHeadReader().push(enc('CONNECT h:2 HTTP/1.0\r\n\r\n'));
    if (!got) throw new Error('incomplete');
    expect(interpretProxyRequest(got.head).kind).toBe('connect');
  });
});

describe('Basic credentials', () => {
  it('round-trips UTF-8 users and passwords containing colons', () => {
    const value = formatBasicAuthorization('üser', 'pa:ss');
    expect(parseBasicAuthorization(value)).toEqual({ user: 'üser', password: 'pa:ss' });
    expect(parseBasicAuthorization(value.replace('Basic', 'bAsIc'))).toEqual({
      user: 'üser',
      password: 'pa:ss',
    });
  });
  it('returns null for other schemes', () => {
    expect(parseBasicAuthorization('Bearer abc')).toBeNull();
    expect(parseBasicAuthorization('Digest')).toBeNull();
  });
  it('refuses a Basic value that is not base64 of UTF-8', () => {
    expect(() => parseBasicAuthorization('Basic')).toThrow(HttpError);
    expect(() => parseBasicAuthorization('Basic abc')).toThrow(HttpError);
    expect(() =>
      parseBasicAuthorization(`Basic ${Buffer.from([0xff, 0x3a]).toString('base64')}`),
    ).toThrow(/UTF-8/);
  });
});

describe('parseAuthority with a default port', () => {
  it('uses the default only when no port is written', () => {
    expect(parseAuthority('a.example', 80).port).toBe(80);
    expect(parseAuthority('[::2]', 80)).toEqual({ host: '::2', hostType: 'ipv6', port: 80 });
    expect(() => parseAuthority('[::2]:', 80)).toThrow(HttpError);
  });
});
