import { describe, expect, it } from 'vitest';
import {
  connectEstablished,
  errorResponse,
  proxyAuthRequired,
  ResponseHeadReader,
} from '../../../src/protocols/http-proxy/index.js';

describe('front-end responses', () => {
  it('answers a CONNECT with a bare 200', () => {
    expect(connectEstablished().toString()).toBe('HTTP/1.1 200 Connection established\r\n\r\n');
  });

  it('writes errors that parse back, with a correct Content-Length and Connection: close', () => {
    for (const status of [400, 407, 431, 501, 502, 599]) {
      const buf = errorResponse(status);
      const got = new ResponseHeadReader().push(buf);
      if (!got) throw new Error('incomplete');
      expect(got.head.status).toBe(status);
      const length = got.head.headers.find((h) => h.key === 'content-length')?.value;
      expect(Number(length)).toBe(got.leftover.length);
      expect(got.head.headers.find((h) => h.key === 'connection')?.value).toBe('close');
    }
  });

  it('asks for Basic proxy credentials with a quoted realm', () => {
    const text = proxyAuthRequired('my "agent"').toString();
    expect(text).toContain('HTTP/1.1 407 Proxy Authentication Required\r\n');
    expect(text).toContain('Proxy-Authenticate: Basic realm="my \\"agent\\"", charset="UTF-8"\r\n');
    expect(() => errorResponse(400, [['X', 'a\r\nb']])).toThrow(TypeError);
  });
});
