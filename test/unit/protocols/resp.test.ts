import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VproxyError } from '../../../src/fd/errors.js';
import { RespReader } from '../../../src/protocols/resp/reader.js';
import { encodeResp } from '../../../src/protocols/resp/writer.js';

function request(args: string[]): Buffer {
  return Buffer.concat([
    Buffer.from(`*${args.length}\r\n`),
    ...args.map((a) => {
      const b = Buffer.from(a, 'utf8');
      return Buffer.concat([Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n')]);
    }),
  ]);
}

function thrownMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(VproxyError);
    expect(err).toMatchObject({ code: 'ERR_RESP_INVALID' });
    return (err as Error).message;
  }
  throw new Error('did not throw');
}

describe('RespReader', () => {
  it('reads arrays of bulk strings as redis-cli sends them', () => {
    const r = new RespReader();
    expect(r.push(Buffer.from('*2\r\n$4\r\nAUTH\r\n$6\r\nsec'))).toEqual([]);
    expect(r.push(Buffer.from('ret\r\n'))).toEqual([['AUTH', 'secret']]);
    expect(r.push(request(['list', 'tcp-lb']))).toEqual([['list', 'tcp-lb']]);
  });

  it('counts bulk lengths in bytes (multi-byte UTF-8)', () => {
    expect(new RespReader().push(request(['echo', 'héllo €']))).toEqual([['echo', 'héllo €']]);
  });

  it('reads inline commands', () => {
    expect(new RespReader().push(Buffer.from('PING\r\nlist  tcp-lb\n'))).toEqual([
      ['PING'],
      ['list', 'tcp-lb'],
    ]);
  });

  it('reassembles requests split at every offset', () => {
    const wire = Buffer.concat([request(['a', 'bb', 'ccc']), request(['man', 'tcp-lb', 'add'])]);
    for (let cut = 0; cut <= wire.length; cut++) {
      const r = new RespReader();
      const got = [...r.push(wire.subarray(0, cut)), ...r.push(wire.subarray(cut))];
      expect(got).toEqual([
        ['a', 'bb', 'ccc'],
        ['man', 'tcp-lb', 'add'],
      ]);
    }
  });

  it.each([
    ['*x\r\n', 'invalid array length "x"'],
    ['*1\r\n:5\r\n', 'expected a bulk string ("$") at element 0, got ":"'],
    ['*1\r\n$3\r\nabcd\r\n', 'bulk string at element 0 is not followed by CRLF'],
    ['*1\n', 'header line not terminated by CRLF'],
    ['*2000\r\n', 'array of 2000 elements exceeds 1024'],
    ['*1\r\n$99999\r\n', 'bulk string of 99999 bytes exceeds 16384'],
    [`*1${'1'.repeat(40)}`, 'header line longer than 32 bytes'],
  ])('rejects %j: %s', (wire, message) => {
    expect(thrownMessage(() => new RespReader().push(Buffer.from(wire)))).toBe(message);
  });

  it('never buffers more than the request limit', () => {
    const r = new RespReader({ maxRequestBytes: 64 });
    expect(thrownMessage(() => r.push(Buffer.from('x'.repeat(65))))).toMatch(
      /too many input bytes/,
    );
  });

  it('round-trips arbitrary argument lists, in arbitrary chunks', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.array(fc.string({ unit: 'grapheme', maxLength: 20 }), { minLength: 1, maxLength: 6 }),
          {
            minLength: 1,
            maxLength: 5,
          },
        ),
        fc.array(fc.nat(40), { maxLength: 10 }),
        (requests, cuts) => {
          const wire = Buffer.concat(requests.map(request));
          const r = new RespReader();
          const got: string[][] = [];
          let pos = 0;
          for (const c of cuts) {
            got.push(...r.push(wire.subarray(pos, Math.min(wire.length, pos + c))));
            pos = Math.min(wire.length, pos + c);
          }
          got.push(...r.push(wire.subarray(pos)));
          expect(got).toEqual(requests);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('garbage either parses or throws ERR_RESP_INVALID', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          new RespReader().push(Buffer.from(bytes));
        } catch (err) {
          expect(err).toBeInstanceOf(VproxyError);
          expect((err as VproxyError).code).toBe('ERR_RESP_INVALID');
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('RespReader.feed/next (one request at a time)', () => {
  it('yields exactly what push would, however the bytes are split and pulled', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.array(fc.string({ unit: 'grapheme', maxLength: 20 }), { minLength: 1, maxLength: 6 }),
          { maxLength: 8 },
        ),
        fc.array(fc.nat(40), { maxLength: 10 }),
        fc.array(fc.nat(3), { maxLength: 20 }),
        (requests, cuts, pulls) => {
          const wire = Buffer.concat(requests.map(request));
          const pushed = new RespReader().push(wire);
          const r = new RespReader();
          const got: string[][] = [];
          let pos = 0;
          let k = 0;
          for (const cut of [...cuts, wire.length]) {
            const end = Math.min(wire.length, pos + cut);
            r.feed(wire.subarray(pos, end));
            pos = end;
            // Pull a few (maybe none) now; the rest stays buffered, unparsed.
            for (let n = pulls[k++ % Math.max(1, pulls.length)] ?? 1; n > 0; n--) {
              const next = r.next();
              if (next === null) break;
              got.push(next);
            }
          }
          for (let next = r.next(); next !== null; next = r.next()) got.push(next);
          expect(got).toEqual(pushed);
          expect(got).toEqual(requests);
          expect(r.buffered).toBe(0);
        },
      ),
    );
  });

  it('buffers fed bytes unparsed until asked, and bounds an incomplete request', () => {
    const r = new RespReader({ maxRequestBytes: 64 });
    r.feed(Buffer.from('PING\r\n'.repeat(100)));
    expect(r.buffered).toBe(600);
    expect(r.next()).toEqual(['PING']);
    expect(r.buffered).toBe(594);
    const big = new RespReader({ maxRequestBytes: 64 });
    big.feed(Buffer.from('x'.repeat(65)));
    expect(thrownMessage(() => big.next())).toMatch(/may not exceed 64 bytes/);
  });
});

describe('RespReader byte limit', () => {
  /** Requests and the error (if any), feeding `chunks` and pulling everything after each. */
  function outcome(
    limit: number,
    chunks: Buffer[],
  ): { requests: string[][]; error: string | null } {
    const r = new RespReader({ maxRequestBytes: limit });
    const requests: string[][] = [];
    try {
      for (const c of chunks) {
        r.feed(c);
        for (let next = r.next(); next !== null; next = r.next()) requests.push(next);
      }
    } catch (err) {
      return { requests, error: (err as Error).message };
    }
    return { requests, error: null };
  }

  it('is the same whether a request arrives whole or byte by byte (any limit, any bytes)', () => {
    const wire = fc.oneof(
      fc
        .array(fc.array(fc.string({ maxLength: 30 }), { minLength: 1, maxLength: 4 }), {
          maxLength: 4,
        })
        .map((reqs) => Buffer.concat(reqs.map(request))),
      fc.uint8Array({ maxLength: 120 }).map((b) => Buffer.from(b)),
      fc.stringMatching(/^[*$0-9a-z\r\n ]{0,120}$/).map((t) => Buffer.from(t)),
    );
    fc.assert(
      fc.property(fc.integer({ min: 8, max: 80 }), wire, (limit, bytes) => {
        const whole = outcome(limit, [bytes]);
        const bytewise = outcome(
          limit,
          Array.from({ length: bytes.length }, (_, k) => bytes.subarray(k, k + 1)),
        );
        expect(bytewise).toEqual(whole);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses a complete request longer than the limit even when it arrives in one chunk', () => {
    const big = request(['a'.repeat(24), 'b'.repeat(9)]);
    expect(big.length).toBe(50);
    expect(thrownMessage(() => new RespReader({ maxRequestBytes: 48 }).push(big))).toBe(
      'too many input bytes: a request may not exceed 48 bytes',
    );
    expect(new RespReader({ maxRequestBytes: 50 }).push(big)).toHaveLength(1);
  });
});

describe('encodeResp', () => {
  it('encodes every reply kind', () => {
    expect(encodeResp({ status: 'OK' }).toString()).toBe('+OK\r\n');
    expect(encodeResp({ error: 'bad\r\nthing' }).toString()).toBe('-bad thing\r\n');
    expect(encodeResp(42).toString()).toBe(':42\r\n');
    expect(encodeResp(null).toString()).toBe('$-1\r\n');
    expect(encodeResp('€').toString()).toBe('$3\r\n€\r\n');
    expect(encodeResp(['a', ['b', 1], null]).toString()).toBe(
      '*3\r\n$1\r\na\r\n*2\r\n$1\r\nb\r\n:1\r\n$-1\r\n',
    );
  });
});
