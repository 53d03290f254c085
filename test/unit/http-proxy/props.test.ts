import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HttpError, ProxyRequestReader } from '../../../src/protocols/http-proxy/index.js';

type Outcome =
  | { kind: 'more'; buffered: number }
  | { kind: 'error'; code: string; status: number }
  | { kind: 'done'; request: unknown; leftover: string };

/** Feed `bytes` cut at `cuts`; the summary is what a front end would act on. */
function feed(
  bytes: Buffer,
  cuts: number[],
  limits = { maxHeadBytes: 512, maxHeaders: 8 },
): Outcome {
  const reader = new ProxyRequestReader(limits);
  const edges = [
    0,
    ...cuts.filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b),
    bytes.length,
  ];
  try {
    for (let i = 0; i + 1 < edges.length; i++) {
      const got = reader.push(bytes.subarray(edges[i], edges[i + 1]));
      if (got) {
        // Bytes fed after the head are leftover whichever chunk they came in.
        const rest = Buffer.concat([got.leftover, bytes.subarray(edges[i + 1])]);
        const { request } = got;
        const summary = {
          kind: request.kind,
          target: request.kind === 'local' ? null : request.target,
          credentials: request.credentials,
          head: request.head.raw.toString('latin1'),
          forward: request.kind === 'forward' ? request.forwardHead.toString('latin1') : null,
        };
        return { kind: 'done', request: summary, leftover: rest.toString('latin1') };
      }
    }
  } catch (err) {
    if (err instanceof HttpError) return { kind: 'error', code: err.code, status: err.status };
    throw err;
  }
  return { kind: 'more', buffered: reader.buffered };
}

const host = fc.oneof(
  fc.constantFrom('example.com', 'A.b-c.d', '[::1]', '1.2.3.4', '[2001:db8::7]', '127.1', 'x_y.z'),
  fc.stringMatching(/^[a-z0-9.:[\]-]{1,20}$/),
);
const port = fc.oneof(fc.integer({ min: 0, max: 70000 }).map(String), fc.constant(''));
const header = fc.oneof(
  fc.constantFrom(
    'Host: example.com',
    'Proxy-Authorization: Basic dTpw',
    'Proxy-Authorization: Basic !!',
    'Connection: keep-alive, X-A',
    'X-A: 1',
    'Content-Length: 3',
    'Transfer-Encoding: chunked',
    ' folded',
    'Bad Name: x',
  ),
  fc
    .tuple(fc.stringMatching(/^[A-Za-z-]{1,8}$/), fc.string({ maxLength: 12 }))
    .map(([n, v]) => `${n}: ${v}`),
);
const request = fc
  .tuple(
    fc.constantFrom('CONNECT', 'GET', 'POST', 'get'),
    fc.boolean(),
    host,
    port,
    fc.constantFrom('', '/', '/p?q', '?q', '#f'),
    fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2'),
    fc.array(header, { maxLength: 10 }),
    fc.constantFrom('\r\n', '\n', '\r\r\n'),
    fc.string({ maxLength: 8 }),
  )
  .map(([method, absolute, h, p, path, version, headers, eol, tail]) => {
    const authority = p === '' ? h : `${h}:${p}`;
    const target =
      method === 'CONNECT' ? authority : absolute ? `http://${authority}${path}` : `/${path}`;
    return Buffer.from(
      `${method} ${target} ${version}${eol}${headers.join(eol)}${eol}${eol}${tail}`,
      'latin1',
    );
  });

const cutsFor = (bytes: Buffer) =>
  fc.array(fc.integer({ min: 0, max: bytes.length }), { maxLength: 12 });

describe('proxy request reader properties', () => {
  it('gives the same outcome for every split of the same bytes', () => {
    fc.assert(
      fc.property(
        request.chain((b) => fc.tuple(fc.constant(b), cutsFor(b))),
        ([bytes, cuts]) => {
          expect(feed(bytes, cuts)).toEqual(feed(bytes, []));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('gives the same outcome byte by byte as in one chunk', () => {
    fc.assert(
      fc.property(request, (bytes) => {
        const all = Array.from({ length: bytes.length }, (_, i) => i);
        expect(feed(bytes, all)).toEqual(feed(bytes, []));
      }),
      { numRuns: 300 },
    );
  });

  it('answers garbage, truncation and oversize with a typed error or "need more", never a crash', () => {
    const garbage = fc.oneof(
      fc.uint8Array({ maxLength: 700 }).map((a) => Buffer.from(a)),
      request.chain((b) => fc.integer({ min: 0, max: b.length }).map((n) => b.subarray(0, n))),
      fc
        .nat({ max: 2000 })
        .map((n) => Buffer.from(`GET http://a/ HTTP/1.1\r\nX: ${'a'.repeat(n)}`)),
    );
    fc.assert(
      fc.property(garbage, (bytes) => {
        const out = feed(bytes, []);
        if (out.kind === 'more') expect(out.buffered).toBeLessThanOrEqual(512);
        if (out.kind === 'error') expect([400, 431, 501]).toContain(out.status);
      }),
      { numRuns: 2000 },
    );
  });

  it('forwards every end-to-end header line byte-exact and in order', () => {
    const line = fc
      .tuple(
        fc.stringMatching(/^X-[A-Za-z0-9]{1,6}$/),
        fc.stringMatching(/^[ \t]*[!-~]{0,8}[ \t!-~]{0,8}$/),
      )
      .map(([n, v]) => `${n}:${v}`);
    fc.assert(
      fc.property(fc.array(line, { maxLength: 6 }), (lines) => {
        const text = `GET http://h.example/x HTTP/1.1\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`;
        const out = feed(Buffer.from(text, 'latin1'), []);
        if (out.kind !== 'done') throw new Error(JSON.stringify(out));
        const forward = (out.request as { forward: string }).forward;
        const expected = [
          'GET /x HTTP/1.1',
          'Host: h.example',
          ...lines,
          'Connection: close',
          '',
          '',
        ];
        expect(forward).toBe(expected.join('\r\n'));
      }),
    );
  });
});
