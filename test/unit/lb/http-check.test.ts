import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseAddress } from '../../../src/fd/address.js';
import { isVproxyError } from '../../../src/fd/errors.js';
import {
  parseExpectedStatuses,
  resolveHttpCheck,
  statusMatches,
} from '../../../src/lb/health-config.js';
import { buildCheckRequest, parseStatusLine } from '../../../src/lb/http-check.js';

describe('HTTP check pieces', () => {
  it('parses status lines', () => {
    expect(parseStatusLine('HTTP/1.1 200 OK')).toBe(200);
    expect(parseStatusLine('HTTP/1.0 503 Service Unavailable')).toBe(503);
    expect(parseStatusLine('HTTP/1.1 204')).toBe(204);
    expect(parseStatusLine('HTTP/1.1 204 ')).toBe(204);
    expect(parseStatusLine('HTTP/2 200 OK')).toBeNull();
    expect(parseStatusLine('HTTP/1.1 20 OK')).toBeNull();
    expect(parseStatusLine('HTTP/1.1 600 Nope')).toBeNull();
    expect(parseStatusLine('SSH-2.0-OpenSSH_9.6')).toBeNull();
    expect(parseStatusLine('')).toBeNull();
  });

  it('property: the status-line parser never throws and only returns 100..599', () => {
    const line = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.string({ unit: 'binary', maxLength: 60 }),
      fc
        .tuple(
          fc.constantFrom('HTTP/1.1 ', 'HTTP/1.0 ', 'HTTP/1.1  '),
          fc.string({ maxLength: 10 }),
        )
        .map(([a, b]) => a + b),
    );
    fc.assert(
      fc.property(line, (l) => {
        const s = parseStatusLine(l);
        if (s !== null) expect(s >= 100 && s <= 599).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('builds a minimal HTTP/1.1 request with a Host header', () => {
    const check = resolveHttpCheck({ kind: 'http', method: 'HEAD', path: '/health?x=1' });
    expect(buildCheckRequest(check, parseAddress('tcp://[::1]:8080'))).toBe(
      'HEAD /health?x=1 HTTP/1.1\r\nHost: [::1]:8080\r\nUser-Agent: vproxy-ts-health-check\r\n' +
        'Accept: */*\r\nConnection: close\r\n\r\n',
    );
    const withHost = resolveHttpCheck({ kind: 'http', host: 'svc.example' });
    expect(buildCheckRequest(withHost, parseAddress('10.0.0.1:80'))).toMatch(
      /^GET \/ HTTP\/1\.1\r\nHost: svc\.example\r\n/,
    );
  });

  it('expected statuses: codes and classes; defaults to 2xx and 3xx', () => {
    const def = resolveHttpCheck({ kind: 'http' }).expect;
    expect([200, 302, 404, 500].map((s) => statusMatches(s, def))).toEqual([
      true,
      true,
      false,
      false,
    ]);
    const parsed = parseExpectedStatuses('204, 4xx');
    expect(parsed).toEqual([204, '4xx']);
    expect([200, 204, 404, 500].map((s) => statusMatches(s, parsed))).toEqual([
      false,
      true,
      true,
      false,
    ]);
    for (const bad of ['', '2x', '600', '20', 'abc', '200,']) {
      expect(() => parseExpectedStatuses(bad), bad).toThrow(
        expect.objectContaining({ code: 'ERR_HEALTH_CHECK_INVALID' }),
      );
    }
  });

  it('property: method, path and host can never smuggle bytes into the request', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 20 }),
        fc.string({ maxLength: 20 }),
        fc.string({ maxLength: 20 }),
        (m, p, h) => {
          let check: ReturnType<typeof resolveHttpCheck>;
          try {
            check = resolveHttpCheck({ kind: 'http', method: m, path: `/${p}`, host: h });
          } catch (err) {
            // Refusing the input is fine, with the module's own code.
            expect(isVproxyError(err, 'ERR_HEALTH_CHECK_INVALID'), String(err)).toBe(true);
            return;
          }
          // Accepted: building the request must not throw, and it is exactly
          // 5 lines + the blank line, printable ASCII only.
          const request = buildCheckRequest(check, parseAddress('10.0.0.1:80'));
          expect(request.split('\r\n').length).toBe(7); // 5 lines + blank line + ''
          expect(/[^\x20-\x7e\r\n]/.test(request)).toBe(false);
          expect(request.endsWith('\r\n\r\n')).toBe(true);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
