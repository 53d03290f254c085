import type { IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkJsonBody,
  checkOrigin,
  cookieToken,
  decodeComponent,
  isWrite,
} from '../../../src/control/controllers/request-policy.js';
import { isVproxyError } from '../../../src/fd/errors.js';

function req(headers: Record<string, string>, method = 'POST'): IncomingMessage {
  return { headers, method } as unknown as IncomingMessage;
}

/** The VproxyError code `fn` throws, or 'ok'. Anything else thrown fails the test. */
function outcome(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (!isVproxyError(err)) throw err;
    return err.code;
  }
}

describe('request policy', () => {
  it('decodeComponent round-trips encodeURIComponent and refuses anything malformed with a 400 code', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        expect(decodeComponent(encodeURIComponent(s), 'x')).toBe(s);
      }),
    );
    fc.assert(
      fc.property(fc.string(), (s) => {
        expect(['ok', 'ERR_REQUEST_INVALID']).toContain(outcome(() => decodeComponent(s, 'x')));
      }),
    );
    expect(outcome(() => decodeComponent('%ZZ', 'x'))).toBe('ERR_REQUEST_INVALID');
  });

  it('cookieToken finds the token among other cookies, and malformed ones are a 400', () => {
    const name = fc.stringMatching(/^[a-z_]{1,8}$/).filter((n) => n !== 'vproxy_token');
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme' }),
        fc.array(fc.tuple(name, fc.stringMatching(/^[A-Za-z0-9]{0,8}$/)), { maxLength: 4 }),
        fc.nat(4),
        (token, others, at) => {
          const parts = others.map(([k, v]) => `${k}=${v}`);
          parts.splice(Math.min(at, parts.length), 0, `vproxy_token=${encodeURIComponent(token)}`);
          expect(cookieToken(req({ cookie: parts.join('; ') }), 'vproxy_token')).toBe(token);
        },
      ),
    );
    expect(cookieToken(req({ cookie: 'a=1' }), 'vproxy_token')).toBeUndefined();
    expect(
      outcome(() => cookieToken(req({ cookie: 'vproxy_token=%E0%A4%A' }), 'vproxy_token')),
    ).toBe('ERR_REQUEST_INVALID');
  });

  it('checkOrigin accepts only the Host the request was sent to, and never throws anything else', () => {
    expect(outcome(() => checkOrigin(req({ host: '127.0.0.1:8080' })))).toBe('ok');
    expect(
      outcome(() => checkOrigin(req({ host: '127.0.0.1:8080', origin: 'http://127.0.0.1:8080' }))),
    ).toBe('ok');
    expect(outcome(() => checkOrigin(req({ host: '[::1]:80', origin: 'http://[::1]' })))).toBe(
      'ok',
    );
    for (const origin of ['http://127.0.0.1:18999', 'null', 'file://', 'http://localhost:8080']) {
      expect(outcome(() => checkOrigin(req({ host: '127.0.0.1:8080', origin })))).toBe(
        'ERR_FORBIDDEN',
      );
    }
    expect(outcome(() => checkOrigin(req({ origin: 'http://127.0.0.1:8080' })))).toBe(
      'ERR_FORBIDDEN',
    );
    fc.assert(
      fc.property(fc.string(), fc.string(), (host, origin) => {
        const r = outcome(() => checkOrigin(req({ host, origin })));
        expect(['ok', 'ERR_FORBIDDEN']).toContain(r);
      }),
    );
    fc.assert(
      fc.property(fc.domain(), fc.integer({ min: 1, max: 65535 }), fc.domain(), (a, port, b) => {
        fc.pre(a.toLowerCase() !== b.toLowerCase());
        const host = `${a}:${port}`;
        expect(outcome(() => checkOrigin(req({ host, origin: `http://${host}` })))).toBe('ok');
        expect(outcome(() => checkOrigin(req({ host, origin: `http://${b}:${port}` })))).toBe(
          'ERR_FORBIDDEN',
        );
      }),
    );
  });

  it('a body must be declared application/json; only GET and HEAD are reads', () => {
    for (const ct of ['application/json', 'Application/JSON; charset=utf-8'])
      expect(outcome(() => checkJsonBody(req({ 'content-type': ct })))).toBe('ok');
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data', ''])
      expect(outcome(() => checkJsonBody(req({ 'content-type': ct })))).toBe(
        'ERR_CONTENT_TYPE_INVALID',
      );
    expect(outcome(() => checkJsonBody(req({})))).toBe('ERR_CONTENT_TYPE_INVALID');
    expect([isWrite('GET'), isWrite('HEAD'), isWrite('POST'), isWrite('DELETE')]).toEqual([
      false,
      false,
      true,
      true,
    ]);
  });
});
