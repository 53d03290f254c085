import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HeadScanner } from '../../../src/protocols/http-proxy/head-scanner.js';
import { parseRequestLine } from '../../../src/protocols/http-proxy/request-head.js';
import { RespReader } from '../../../src/protocols/resp/reader.js';
import { FramePreamble } from '../../../src/protocols/websocks/frame.js';
import { RawHeaderReader } from '../../../transports/ws/raw-header.js';
import { fcParams } from '../../helpers/fc.js';

// The oracle for every parser fed from a stream: the same bytes give the same
// outcome (messages, what is left over, the error and its message) whether they
// arrive whole, cut anywhere, or one byte at a time. Inputs are valid messages,
// valid messages with bytes overwritten or cut short, and plain garbage, so the
// error paths are split too. (The FrameSpec parsers - socks5, PROXY protocol -
// and the mux frame parser get the same oracle in their own property files.)

/** `bytes` cut at `cuts` (offsets in any order; duplicates and out-of-range ones folded). */
function cutAt(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

/** Copies of each chunk: a parser must not depend on the caller keeping its buffer. */
function bytewise(bytes: Buffer): Buffer[] {
  return Array.from({ length: bytes.length }, (_, i) => Buffer.from(bytes.subarray(i, i + 1)));
}

function errorText(err: unknown): string {
  const e = err as { name?: string; code?: string; message?: string };
  return `${e.name ?? '?'} ${e.code ?? '?'}: ${e.message ?? String(err)}`;
}

/** Run `parse` whole, at `cuts` and byte by byte: all three outcomes must be equal. */
function expectSameOutcome<O>(
  bytes: Buffer,
  cuts: readonly number[],
  parse: (chunks: readonly Buffer[]) => O,
): O {
  const whole = parse([Buffer.from(bytes)]);
  expect(parse(cutAt(Buffer.from(bytes), cuts)), `cut at ${cuts.join(',')}`).toEqual(whole);
  expect(parse(bytewise(bytes)), 'byte by byte').toEqual(whole);
  return whole;
}

const cutsArb = fc.array(fc.nat(), { maxLength: 12 });

/** Valid messages with a few bytes overwritten, cut short, and/or garbage appended. */
function damaged(valid: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  return fc
    .tuple(
      valid,
      fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 3 }),
      fc.option(fc.nat(), { nil: undefined }),
      fc.uint8Array({ maxLength: 40 }),
    )
    .map(([bytes, flips, keep, tail]) => {
      const b = Buffer.from(bytes);
      if (b.length > 0) for (const [at, v] of flips) b[at % b.length] = v;
      const cut = keep === undefined ? b : b.subarray(0, keep % (b.length + 1));
      return Buffer.concat([cut, tail]);
    });
}

function anyOf(valid: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  return fc.oneof(
    valid,
    damaged(valid),
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  );
}

// ---- RESP requests ----------------------------------------------------------

const argArb = fc.string({ maxLength: 12 });
const respRequestArb: fc.Arbitrary<Buffer> = fc.oneof(
  fc
    .array(argArb, { minLength: 1, maxLength: 5 })
    .map((args) =>
      Buffer.from(
        `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`,
      ),
    ),
  fc
    .array(fc.stringMatching(/^[a-z0-9-]{1,8}$/), { minLength: 1, maxLength: 4 })
    .map((words) => Buffer.from(`${words.join(' ')}\r\n`)),
);
const respStreamArb = fc.array(respRequestArb, { maxLength: 5 }).map((reqs) => Buffer.concat(reqs));

interface RespOutcome {
  readonly requests: string[][];
  readonly error: string | null;
  readonly buffered: number;
}

/** As the RESP controller reads: feed a chunk, take every complete request, until an error. */
function parseResp(chunks: readonly Buffer[]): RespOutcome {
  // Small limits, so the size and argument-count refusals are split too.
  const reader = new RespReader({ maxRequestBytes: 48, maxArgs: 4 });
  const requests: string[][] = [];
  try {
    for (const chunk of chunks) {
      reader.feed(chunk);
      for (let r = reader.next(); r !== null; r = reader.next()) requests.push(r);
    }
  } catch (err) {
    return { requests, error: errorText(err), buffered: -1 };
  }
  return { requests, error: null, buffered: reader.buffered };
}

// ---- WebSocket raw-mode header (ws transport) and WebSocks preamble -----------

const pongArb = fc.oneof(
  fc.constant(Buffer.from([0x8a, 0x00])),
  // Odd PONGs: any byte with the PONG opcode nibble, any second byte.
  fc
    .tuple(fc.nat({ max: 15 }), fc.nat({ max: 255 }))
    .map(([hi, b]) => Buffer.from([(hi << 4) | 0x0a, b])),
);
const preambleArb = fc
  .tuple(
    fc.array(pongArb, { maxLength: 4 }),
    fc.uint8Array({ minLength: 10, maxLength: 10 }),
    fc.uint8Array({ maxLength: 30 }),
  )
  .map(([pongs, header, payload]) => Buffer.concat([...pongs, header, payload]));

interface HeaderOutcome {
  readonly complete: boolean;
  readonly header: string | null;
  /** Everything after the header: the leftover of its chunk and every later chunk. */
  readonly rest: string;
  readonly pongs: number;
  readonly oddPongs?: number;
}

function parseRawHeader(skipPongs: boolean, chunks: readonly Buffer[]): HeaderOutcome {
  const reader = new RawHeaderReader(skipPongs);
  for (const [i, chunk] of chunks.entries()) {
    const leftover = reader.push(chunk);
    if (leftover !== null) {
      const rest = Buffer.concat([leftover, ...chunks.slice(i + 1)]).toString('hex');
      return { complete: true, header: null, rest, pongs: reader.pongs };
    }
  }
  return { complete: false, header: null, rest: '', pongs: reader.pongs };
}

function parsePreamble(stripPongs: boolean, chunks: readonly Buffer[]): HeaderOutcome {
  const preamble = new FramePreamble({ stripPongs });
  for (const [i, chunk] of chunks.entries()) {
    const r = preamble.push(chunk);
    if (r.done) {
      return {
        complete: true,
        header: r.header.toString('hex'),
        rest: Buffer.concat([r.leftover, ...chunks.slice(i + 1)]).toString('hex'),
        pongs: preamble.pongs,
        oddPongs: preamble.oddPongs,
      };
    }
  }
  return {
    complete: false,
    header: null,
    rest: '',
    pongs: preamble.pongs,
    oddPongs: preamble.oddPongs,
  };
}

// ---- HTTP/1.x request heads (http-proxy) -------------------------------------

const tokenArb = fc.stringMatching(/^[A-Za-z0-9-]{1,10}$/);
const headArb = fc
  .tuple(
    fc.constantFrom('GET', 'CONNECT', 'POST', 'get', 'G ET'),
    fc.constantFrom('/', 'http://example.com/x', 'example.com:443', '/a b'),
    fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2'),
    fc.array(fc.tuple(tokenArb, fc.string({ maxLength: 12 })), { maxLength: 4 }),
    fc.constantFrom('\r\n', '\n', '\r'),
    fc.uint8Array({ maxLength: 20 }),
  )
  .map(([method, target, version, headers, eol, body]) =>
    Buffer.concat([
      Buffer.from(
        `${method} ${target} ${version}\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}${eol}`,
        'latin1',
      ),
      body,
    ]),
  );

interface HeadOutcome {
  readonly head: string | null;
  readonly rest: string;
  readonly error: string | null;
}

function parseHead(chunks: readonly Buffer[]): HeadOutcome {
  // Small limits, so "too large" and "too many headers" are reached too.
  const scanner = new HeadScanner((line) => void parseRequestLine(line), {
    maxHeadBytes: 200,
    maxHeaders: 3,
  });
  try {
    for (const [i, chunk] of chunks.entries()) {
      const r = scanner.push(chunk);
      if (r !== null) {
        const rest = Buffer.concat([r.leftover, ...chunks.slice(i + 1)]).toString('hex');
        return { head: r.head.toString('hex'), rest, error: null };
      }
    }
  } catch (err) {
    return { head: null, rest: '', error: errorText(err) };
  }
  return { head: null, rest: '', error: null };
}

describe('the split dependence the property below found (fixed in 662cde8)', () => {
  // RespReader used to enforce maxRequestBytes only on an incomplete request, so
  // a complete request over the limit passed in one chunk and was refused in pieces.
  it('RESP: a 50-byte request against a 48-byte limit, whole vs byte by byte', () => {
    const request = Buffer.from(`*2\r\n$24\r\n${'a'.repeat(24)}\r\n$9\r\n${'b'.repeat(9)}\r\n`);
    expect(request.length).toBe(50);
    const limited = (chunks: readonly Buffer[]) => {
      const reader = new RespReader({ maxRequestBytes: 48 });
      const requests: string[][] = [];
      try {
        for (const chunk of chunks) {
          reader.feed(chunk);
          for (let r = reader.next(); r !== null; r = reader.next()) requests.push(r);
        }
      } catch (err) {
        return { requests, error: errorText(err) };
      }
      return { requests, error: null };
    };
    expectSameOutcome(request, [], limited);
  });
});

describe('property: chunked parsers give the same outcome for every split of the same bytes', () => {
  it('RESP reader: requests, pipelined, damaged or garbage', () => {
    fc.assert(
      fc.property(anyOf(respStreamArb), cutsArb, (bytes, cuts) => {
        expectSameOutcome(bytes, cuts, parseResp);
      }),
      fcParams({ numRuns: 1500 }),
    );
  });

  it('ws raw-mode header reader, with and without PONG skipping', () => {
    fc.assert(
      fc.property(anyOf(preambleArb), fc.boolean(), cutsArb, (bytes, skip, cuts) => {
        expectSameOutcome(bytes, cuts, (chunks) => parseRawHeader(skip, chunks));
      }),
      fcParams({ numRuns: 1500 }),
    );
  });

  it('WebSocks frame preamble, with and without PONG stripping', () => {
    fc.assert(
      fc.property(anyOf(preambleArb), fc.boolean(), cutsArb, (bytes, strip, cuts) => {
        expectSameOutcome(bytes, cuts, (chunks) => parsePreamble(strip, chunks));
      }),
      fcParams({ numRuns: 1500 }),
    );
  });

  it('HTTP head scanner: heads, bad line endings, bad start lines, size limits', () => {
    fc.assert(
      fc.property(anyOf(headArb), cutsArb, (bytes, cuts) => {
        expectSameOutcome(bytes, cuts, parseHead);
      }),
      fcParams({ numRuns: 1500 }),
    );
  });
});
