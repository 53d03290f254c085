import { isIPv4, isIPv6 } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Address,
  formatAddress,
  formatHostPort,
  parseAddress,
  toAddress,
} from '../../src/fd/address.js';
import { VproxyError } from '../../src/fd/errors.js';

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** A plain-object copy of an address, so null-prototype options compare by content. */
function plain(a: Address): {
  scheme: string;
  host: string;
  port: number;
  path: string;
  options: Record<string, string>;
} {
  return { scheme: a.scheme, host: a.host, port: a.port, path: a.path, options: { ...a.options } };
}

/** Runs `fn` and returns what it threw; fails the test if it returned. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to throw');
}

/** Asserts `text` is rejected with ERR_ADDRESS_INVALID and a message naming the input. */
function expectInvalid(text: string, why: RegExp): void {
  const err = thrown(() => parseAddress(text));
  expect(err).toBeInstanceOf(VproxyError);
  if (!(err instanceof VproxyError)) return;
  expect(err.code).toBe('ERR_ADDRESS_INVALID');
  expect(err.name).toBe('VproxyError');
  expect(err.message.startsWith(`invalid address "${text}": `)).toBe(true);
  expect(err.message).toMatch(why);
}

/** parseAddress must either succeed or throw VproxyError(ERR_ADDRESS_INVALID), nothing else. */
function parseOrAddressError(text: string): Address | undefined {
  try {
    return parseAddress(text);
  } catch (err) {
    expect(err).toBeInstanceOf(VproxyError);
    if (err instanceof VproxyError) expect(err.code).toBe('ERR_ADDRESS_INVALID');
    return undefined;
  }
}

/** True when the string has no unpaired UTF-16 surrogate (String#isWellFormed is ES2024). */
function isWellFormed(s: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

// ---------------------------------------------------------------------------
// Arbitraries for valid addresses
// ---------------------------------------------------------------------------

const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';
/** One of the code points of `chars` (Array.from keeps surrogate pairs together). */
const charFrom = (chars: string) => fc.constantFrom(...Array.from(chars));

/** One scheme part: a lowercase letter, then letters, digits and '-'. */
const schemePart = fc
  .tuple(charFrom(LOWER), fc.string({ unit: charFrom(`${LOWER}${DIGITS}-`), maxLength: 8 }))
  .map(([first, rest]) => first + rest);

/** `tcp`, `tls+tcp`, `a-b+c1`, … (outermost first). */
const schemeArb = fc.oneof(
  fc.constantFrom('tcp', 'tls+tcp', 'a-b+c1', 'ws+tls+tcp', 'udp', 'kcp+udp'),
  fc.array(schemePart, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('+')),
);

const LABEL_EDGE = `${LOWER}${LOWER.toUpperCase()}${DIGITS}_`;
/** A host name label: 1..63 chars of [A-Za-z0-9_-], not starting or ending with '-'. */
const labelArb = fc.oneof(
  charFrom(LABEL_EDGE),
  fc
    .tuple(
      charFrom(LABEL_EDGE),
      fc.string({ unit: charFrom(`${LABEL_EDGE}-`), maxLength: 61 }),
      charFrom(LABEL_EDGE),
    )
    .map(([a, mid, b]) => a + mid + b),
);

/**
 * Host names built from valid labels. A name made only of digits and dots is read
 * as an IPv4 address by design, so those are left out (they are not host names).
 */
const hostnameArb = fc
  .array(labelArb, { minLength: 1, maxLength: 6 })
  .map((labels) => labels.join('.'))
  .filter((h) => h.length <= 253 && !/^[0-9.]+$/.test(h));

const ipv4Arb = fc.ipV4().filter((h) => isIPv4(h));
const ipv6Arb = fc.ipV6().filter((h) => isIPv6(h));
const hostArb = fc.oneof(ipv4Arb, ipv6Arb, hostnameArb, fc.constant('localhost'));

const portArb = fc.integer({ min: 0, max: 65535 });

/** Visible ASCII except '#' and '?' (what the parser accepts in a path). */
const PATH_CHARS = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i))
  .filter((c) => c !== '#' && c !== '?')
  .join('');
const pathArb = fc.oneof(
  fc.constant(''),
  fc.string({ unit: charFrom(PATH_CHARS), maxLength: 30 }).map((p) => `/${p}`),
);

const KEY_FIRST = `${LOWER}${LOWER.toUpperCase()}${DIGITS}`;
const optionKeyArb = fc
  .tuple(charFrom(KEY_FIRST), fc.string({ unit: charFrom(`${KEY_FIRST}_.-`), maxLength: 12 }))
  .map(([a, b]) => a + b);

/** Option values: anything well-formed, with a bias towards characters that need escaping. */
const optionValueArb = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: charFrom('&=%?#/: +@[]\t\n\u00a0\u2028é日😀'), maxLength: 10 }),
  fc.constantFrom('', '%', '%zz', '%41', 'a=b&c=d', ' ', 'ü', '😀', '+', 'http://x/y?z#w'),
);

function toNullProto(entries: [string, string][]): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const [k, v] of entries) out[k] = v;
  return out;
}

const optionsArb = fc
  .uniqueArray(fc.tuple(optionKeyArb, optionValueArb), {
    maxLength: 6,
    selector: ([k]) => k,
  })
  .map(toNullProto);

const addressArb: fc.Arbitrary<Address> = fc.record({
  scheme: schemeArb,
  host: hostArb,
  port: portArb,
  path: pathArb,
  options: optionsArb,
});

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

describe('parseAddress / formatAddress properties', () => {
  it('round-trips every valid address: parseAddress(formatAddress(a)) equals a', () => {
    fc.assert(
      fc.property(addressArb, (a) => {
        const text = formatAddress(a);
        const back = parseAddress(text);
        expect(plain(back)).toStrictEqual(plain(a));
        expect(Object.getPrototypeOf(back.options)).toBeNull();
        // The canonical text is a fixed point.
        expect(formatAddress(back)).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });

  it('formatted addresses never contain white space or fragments', () => {
    fc.assert(
      fc.property(addressArb, (a) => {
        const text = formatAddress(a);
        expect(text).not.toMatch(/[\s#]/);
        expect(text.startsWith(`${a.scheme}://`)).toBe(true);
      }),
    );
  });

  it('a bare host:port (no path/query) means tcp://host:port', () => {
    fc.assert(
      fc.property(hostArb, portArb, (host, port) => {
        const bare = parseAddress(formatHostPort(host, port));
        expect(plain(bare)).toStrictEqual({ scheme: 'tcp', host, port, path: '', options: {} });
      }),
    );
  });

  it('bare addresses with an option query equal their tcp:// form', () => {
    fc.assert(
      fc.property(hostArb, portArb, optionsArb, (host, port, options) => {
        const full = formatAddress({ scheme: 'tcp', host, port, path: '', options });
        const bare = full.slice('tcp://'.length);
        expect(plain(parseAddress(bare))).toStrictEqual(plain(parseAddress(full)));
      }),
    );
  });

  it('scheme parts are case-insensitive and normalised to lower case', () => {
    fc.assert(
      fc.property(addressArb, (a) => {
        const text = formatAddress(a);
        const upper = a.scheme.toUpperCase() + text.slice(a.scheme.length);
        expect(parseAddress(upper).scheme).toBe(a.scheme);
      }),
    );
  });

  it('arbitrary strings either parse or throw VproxyError(ERR_ADDRESS_INVALID)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string({ unit: 'binary' }),
          fc.string({ unit: 'grapheme' }),
          fc.string({
            unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
          }),
          fc.string({ unit: charFrom('[]:/?#%@&=+.-_ a1Z'), maxLength: 30 }),
        ),
        (text) => {
          parseOrAddressError(text);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('mutated valid addresses either parse or throw VproxyError(ERR_ADDRESS_INVALID)', () => {
    const mutation = fc.record({
      at: fc.nat(),
      remove: fc.nat({ max: 4 }),
      insert: fc.oneof(
        fc.constantFrom('', '[', ']', ':', '::', '/', ':/', '://', '?', '#', '%', '%G', '@', '&'),
        fc.constantFrom('=', ' ', '+', '.', '-', '\u0000', '\uD800', '😀', '65536', '999'),
        fc.string({ maxLength: 3 }),
      ),
    });
    fc.assert(
      fc.property(addressArb, fc.array(mutation, { minLength: 1, maxLength: 4 }), (a, muts) => {
        let text = formatAddress(a);
        for (const m of muts) {
          const at = m.at % (text.length + 1);
          text = text.slice(0, at) + m.insert + text.slice(at + m.remove);
        }
        // Also the bare form (without "scheme://") of the mutated text.
        parseOrAddressError(text);
        const sep = text.indexOf('://');
        if (sep >= 0) parseOrAddressError(text.slice(sep + 3));
      }),
      { numRuns: 2000 },
    );
  });

  it('whatever parses is a well-formed address whose canonical text re-parses to it', () => {
    const candidate = fc.oneof(
      fc.string({ unit: charFrom('[]:/?%@&=+.-_a1Z'), maxLength: 30 }),
      addressArb.map(formatAddress),
      addressArb.map((a) => formatAddress(a).replace(/^[^:]*:\/\//, '')),
    );
    fc.assert(
      fc.property(candidate, (text) => {
        const a = parseOrAddressError(text);
        if (a === undefined) return;
        expect(a.scheme).toMatch(/^[a-z][a-z0-9-]*(\+[a-z][a-z0-9-]*)*$/);
        expect(Number.isInteger(a.port) && a.port >= 0 && a.port <= 65535).toBe(true);
        expect(a.path === '' || a.path.startsWith('/')).toBe(true);
        expect(a.host.length).toBeGreaterThan(0);
        if (!Object.values(a.options).every(isWellFormed)) return; // rejected by the parser, tested below
        expect(plain(parseAddress(formatAddress(a)))).toStrictEqual(plain(a));
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects addresses longer than 4096 characters', () => {
    const long = `h:1?a=${'x'.repeat(5000)}`;
    const err = thrown(() => parseAddress(long));
    expect(err).toBeInstanceOf(VproxyError);
    expect(err).toMatchObject({ code: 'ERR_ADDRESS_INVALID' });
    expect(String((err as Error).message)).toMatch(/longer than 4096 characters/);
  });
});

// ---------------------------------------------------------------------------
// Examples
// ---------------------------------------------------------------------------

describe('parseAddress examples', () => {
  it('a bare host:port means tcp', () => {
    expect(plain(parseAddress('127.0.0.1:80'))).toStrictEqual({
      scheme: 'tcp',
      host: '127.0.0.1',
      port: 80,
      path: '',
      options: {},
    });
  });

  it('lower-cases the scheme, keeps the host, parses path and options', () => {
    const a = parseAddress('TLS+TCP://Example.com:443/x?a=1&b');
    expect(plain(a)).toStrictEqual({
      scheme: 'tls+tcp',
      host: 'Example.com',
      port: 443,
      path: '/x',
      options: { a: '1', b: '' },
    });
    expect(Object.getPrototypeOf(a.options)).toBeNull();
  });

  it('strips the brackets of an IPv6 host', () => {
    const a = parseAddress('[::1]:8080');
    expect(a.host).toBe('::1');
    expect(a.port).toBe(8080);
    expect(a.scheme).toBe('tcp');
    expect(parseAddress('udp://[2001:db8::1]:53').host).toBe('2001:db8::1');
  });

  it('accepts the port range bounds and leading zeros', () => {
    expect(parseAddress('h:0').port).toBe(0);
    expect(parseAddress('h:65535').port).toBe(65535);
    expect(parseAddress('h:00080').port).toBe(80);
  });

  it('decodes %-escapes in option values and keeps "=" after the first', () => {
    const a = parseAddress('tcp://h:1?sni=a%20b&x=c=d&e=%E6%97%A5&plus=a+b');
    expect({ ...a.options }).toStrictEqual({ sni: 'a b', x: 'c=d', e: '日', plus: 'a+b' });
  });

  it('an empty query gives no options', () => {
    expect({ ...parseAddress('h:1?').options }).toStrictEqual({});
  });

  it('option names like __proto__-ish keys cannot pollute: options has no prototype', () => {
    const a = parseAddress('h:1?constructor=1&toString=2&hasOwnProperty=3');
    expect(a.options.constructor).toBe('1');
    expect(a.options.toString).toBe('2');
    expect(Object.keys(a.options)).toStrictEqual(['constructor', 'toString', 'hasOwnProperty']);
  });

  it('toAddress parses strings and passes addresses through unchanged', () => {
    const a = parseAddress('tls://h:1');
    expect(toAddress(a)).toBe(a);
    expect(plain(toAddress('tls://h:1'))).toStrictEqual(plain(a));
  });

  // Bug: the check for a malformed "scheme:/" separator looks at the whole text, so a
  // bare address whose path or raw option value contains ":/" is rejected although
  // "a bare host:port means tcp://host:port" and the tcp:// form parses fine.
  it('a bare address whose path contains ":/" equals its tcp:// form', () => {
    const full = parseAddress('tcp://127.0.0.1:80/a:/b');
    expect(plain(parseAddress('127.0.0.1:80/a:/b'))).toStrictEqual(plain(full));
  });

  it('a bare address whose raw option value contains "://" equals its tcp:// form', () => {
    const full = parseAddress('tcp://h:1?u=http://x');
    expect(plain(parseAddress('h:1?u=http://x'))).toStrictEqual(plain(full));
  });

  it('options is a null-prototype object even without a query', () => {
    const a = parseAddress('h:1');
    expect(Object.getPrototypeOf(a.options)).toBeNull();
  });

  it('options is a null-prototype object when there is a query', () => {
    expect(Object.getPrototypeOf(parseAddress('h:1?').options)).toBeNull();
    expect(Object.getPrototypeOf(parseAddress('h:1?a=1').options)).toBeNull();
  });

  // A lone surrogate cannot be %-encoded back (formatAddress would throw), so
  // the parser refuses it, raw or %-escaped.
  it('rejects option values that are not well-formed Unicode', () => {
    expect(() => parseAddress('h:1?a=\uD800')).toThrow(/option "a" is not valid Unicode/);
    expect(() => parseAddress('h:1?a=%ED%A0%80')).toThrow(/option "a" has a malformed %-escape/);
  });
});

describe('parseAddress error messages', () => {
  it.each<[string, string, RegExp]>([
    ['missing port', 'example.com', /missing port \(expected "host:port"\)/],
    ['missing port number', 'example.com:', /missing port number after ":"/],
    ['port out of range', 'h:65536', /port 65536 is out of range 0-65535/],
    ['port too long', 'h:123456', /port "123456" is not a number/],
    ['non-numeric port', 'h:http', /port "http" is not a number/],
    ['negative port', 'h:-1', /port "-1" is not a number/],
    ['unbracketed IPv6', '::1:80', /an IPv6 host must be written in brackets, e\.g\. "\[::1\]:80"/],
    ['bad IPv4', '1.2.3.999:80', /"1\.2\.3\.999" is not a valid IPv4 address/],
    ['missing closing bracket', '[::1:80', /IPv6 host is missing its closing "\]"/],
    ['bracketed non-IPv6', '[nope]:80', /"nope" is not a valid IPv6 address/],
    ['missing port after IPv6', '[::1]', /missing port after the IPv6 host/],
    ['junk after IPv6', '[::1]x:80', /unexpected "x:80" after the IPv6 host/],
    ['empty scheme', '://h:1', /empty scheme before ":\/\/"/],
    ['bad scheme part', 'tls+1x://h:1', /scheme part "1x" must start with a letter/],
    ['empty scheme part', 'tls+://h:1', /scheme part "" must start with a letter/],
    ['malformed separator', 'tcp:/h:1', /malformed scheme separator \(expected "scheme:\/\/"\)/],
    ['duplicate option', 'h:1?a=1&a=2', /option "a" is given twice/],
    ['malformed %-escape', 'h:1?a=%zz', /option "a" has a malformed %-escape/],
    ['bad option name', 'h:1?-a=1', /option name "-a" is not valid/],
    ['empty option name', 'h:1?a=1&&b=2', /option name "" is not valid/],
    ['white space', 'h :1', /contains white space/],
    ['tab', 'h:1?a=\tb', /contains white space/],
    ['fragment', 'h:1#x', /fragments \(#…\) are not allowed/],
    ['credentials', 'u@h:1', /credentials \(user@host\) are not supported in addresses/],
    ['empty host', ':80', /missing host before ":port" \(use 0\.0\.0\.0 to mean every address\)/],
    ['empty host and port', 'tcp://', /missing host and port/],
    ['bad hostname label', '-a.com:1', /host name label "-a" is not valid/],
    ['empty hostname label', 'a..com:1', /host name label "" is not valid/],
    ['label too long', `${'a'.repeat(64)}.com:1`, /host name label "a{64}" is not valid/],
    ['host name too long', `${'a.'.repeat(127)}aa:1`, /host name is longer than 253 characters/],
    ['bad path character', 'h:1/a\u00e9', /path "\/a\u00e9" has a character that is not allowed/],
    ['empty address', '', /empty address/],
  ])('%s: %j', (_name, text, why) => {
    expectInvalid(text, why);
  });

  it('rejects non-string input with ERR_ADDRESS_INVALID', () => {
    const err = thrown(() => parseAddress(42 as unknown as string));
    expect(err).toBeInstanceOf(VproxyError);
    expect(err).toMatchObject({ code: 'ERR_ADDRESS_INVALID' });
    expect(String((err as Error).message)).toMatch(/an address must be a string/);
  });
});

describe('formatHostPort / formatAddress', () => {
  it('brackets IPv6 hosts only', () => {
    expect(formatHostPort('::1', 80)).toBe('[::1]:80');
    expect(formatHostPort('2001:db8::1', 443)).toBe('[2001:db8::1]:443');
    expect(formatHostPort('127.0.0.1', 80)).toBe('127.0.0.1:80');
    expect(formatHostPort('example.com', 0)).toBe('example.com:0');
  });

  it('brackets every generated IPv6 host and never an IPv4 host or host name', () => {
    fc.assert(
      fc.property(ipv6Arb, portArb, (host, port) => {
        expect(formatHostPort(host, port)).toBe(`[${host}]:${port}`);
      }),
    );
    fc.assert(
      fc.property(fc.oneof(ipv4Arb, hostnameArb), portArb, (host, port) => {
        expect(formatHostPort(host, port)).toBe(`${host}:${port}`);
      }),
    );
  });

  it('writes the canonical form: scheme, bracketed host, path, encoded options', () => {
    expect(
      formatAddress({
        scheme: 'tls+tcp',
        host: '::1',
        port: 443,
        path: '/p',
        options: { sni: 'a b&c', insecure: '' },
      }),
    ).toBe('tls+tcp://[::1]:443/p?sni=a%20b%26c&insecure');
    expect(formatAddress(parseAddress('127.0.0.1:80'))).toBe('tcp://127.0.0.1:80');
  });
});
