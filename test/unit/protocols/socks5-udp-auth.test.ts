import { SocketAddress } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VproxyError } from '../../../src/fd/errors.js';
import {
  credentialChecker,
  decodeUdpHeader,
  encodeUdpDatagram,
  replyCodeForError,
  Socks5Error,
  Socks5Reply,
  toEndpoint,
} from '../../../src/protocols/socks5/index.js';
import { hexBytes } from './frame-helpers.js';

describe('socks5 UDP datagram header', () => {
  it.each([
    ['IPv4', '0000 00 01 7f000001 1f90 68656c6c6f', '127.0.0.1', 8080, 'ipv4', 10],
    ['domain', '0000 00 03 09 6c6f63616c686f7374 0035 68656c6c6f', 'localhost', 53, 'domain', 16],
    ['IPv6', '0000 00 04 00000000000000000000000000000001 0007 68656c6c6f', '::1', 7, 'ipv6', 22],
  ])(
    '%s: hand-built bytes decode, and encode back',
    (_, hex, host, port, addressType, headerLength) => {
      const datagram = hexBytes(hex);
      const header = decodeUdpHeader(datagram);
      expect(header).toEqual({ frag: 0, host, port, addressType, headerLength });
      expect(datagram.subarray(header.headerLength).toString()).toBe('hello');
      expect(
        encodeUdpDatagram(toEndpoint(host, port, addressType as 'ipv4'), Buffer.from('hello')),
      ).toEqual(datagram);
    },
  );

  it('reports FRAG so that relays can drop fragments', () => {
    expect(decodeUdpHeader(hexBytes('0000 01 01 7f000001 1f90')).frag).toBe(1);
  });

  it.each([
    ['too short', '0000 00', 'ERR_SOCKS5_MALFORMED', /has no header/],
    ['RSV not zero', '0100 00 01 7f000001 1f90', 'ERR_SOCKS5_MALFORMED', /RSV is 0x0100/],
    ['bad ATYP', '0000 00 02 7f000001 1f90', 'ERR_SOCKS5_ADDRESS_TYPE_NOT_SUPPORTED', /0x02/],
    ['truncated IPv6', '0000 00 04 0000', 'ERR_SOCKS5_MALFORMED', /ends inside its 22-byte header/],
    ['empty domain', '0000 00 03 00 0035', 'ERR_SOCKS5_MALFORMED', /empty domain/],
    ['no domain length', '0000 00 03', 'ERR_SOCKS5_MALFORMED', /domain length/],
  ])('%s → typed error', (_, hex, code, message) => {
    let caught: unknown;
    try {
      decodeUdpHeader(hexBytes(hex));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(Socks5Error);
    expect((caught as Socks5Error).code).toBe(code);
    expect((caught as Socks5Error).stage).toBe('udp');
    expect((caught as Error).message).toMatch(message);
  });

  it('round trips any endpoint and payload; random bytes never throw anything but Socks5Error', () => {
    const endpoint = fc.oneof(
      fc.ipV4().map((h) => toEndpoint(h, 0)),
      fc.ipV6().map((h) => toEndpoint(h, 0)),
      fc.domain().map((h) => toEndpoint(h, 0, 'domain')),
    );
    fc.assert(
      fc.property(
        endpoint,
        fc.integer({ min: 0, max: 65535 }),
        fc.uint8Array({ maxLength: 300 }),
        (ep, port, data) => {
          const datagram = encodeUdpDatagram({ ...ep, port }, data);
          const header = decodeUdpHeader(datagram);
          const host =
            ep.addressType === 'ipv6'
              ? new SocketAddress({ address: ep.host, family: 'ipv6' }).address
              : ep.host;
          expect(header).toMatchObject({ frag: 0, host, port, addressType: ep.addressType });
          expect(
            Buffer.from(datagram.subarray(header.headerLength)).equals(Buffer.from(data)),
          ).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        try {
          const header = decodeUdpHeader(bytes);
          expect(header.headerLength).toBeLessThanOrEqual(bytes.length);
        } catch (err) {
          expect(err).toBeInstanceOf(Socks5Error);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

const creds = (u: string | Buffer, p: string | Buffer) => ({
  username: Buffer.from(u),
  password: Buffer.from(p),
});

describe('socks5 credential check', () => {
  it('accepts exactly the configured user and password (Map)', async () => {
    const check = credentialChecker({
      users: new Map([
        ['alice', 's3cret'],
        ['bob', ''],
      ]),
    });
    expect(await check(creds('alice', 's3cret'))).toBe('alice');
    expect(await check(creds('alice', 's3cret!'))).toBeNull();
    expect(await check(creds('alice', 's3cre'))).toBeNull();
    expect(await check(creds('alice', ''))).toBeNull();
    expect(await check(creds('bob', ''))).toBe('bob');
    expect(await check(creds('carol', ''))).toBeNull();
    expect(await check(creds('carol', 's3cret'))).toBeNull();
  });

  it('a plain record only counts its own keys, never prototype members', async () => {
    const check = credentialChecker({ users: { alice: 'pw' } });
    expect(await check(creds('alice', 'pw'))).toBe('alice');
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      expect(await check(creds(name, ''))).toBeNull();
      expect(await check(creds(name, '[object Object]'))).toBeNull();
    }
  });

  it('non-UTF-8 credentials never match and never reach a verify callback', async () => {
    const seen: string[] = [];
    const check = credentialChecker({
      verify: (u, p) => {
        seen.push(`${u}:${p}`);
        return u === 'ünï' && p === 'côdé';
      },
    });
    expect(await check(creds('ünï', 'côdé'))).toBe('ünï');
    expect(await check(creds(Buffer.from([0xff]), 'x'))).toBeNull();
    expect(await check(creds('x', Buffer.from([0xc3, 0x28])))).toBeNull();
    expect(seen).toEqual(['ünï:côdé']);
  });

  it('an async verify callback works', async () => {
    const check = credentialChecker({ verify: async (u, p) => u === 'a' && p === 'b' });
    expect(await check(creds('a', 'b'))).toBe('a');
    expect(await check(creds('a', 'c'))).toBeNull();
  });

  it('matches a plain comparison for any credentials (fast-check)', async () => {
    const users = new Map([
      ['user', 'password'],
      ['ü', 'p🔑'],
    ]);
    const check = credentialChecker({ users });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.constantFrom('user', 'ü', 'nobody'), fc.string({ maxLength: 20 })),
        fc.oneof(fc.constantFrom('password', 'p🔑', ''), fc.string({ maxLength: 20 })),
        async (u, p) => {
          const expected = users.get(u) === p ? u : null;
          expect(await check(creds(u, p))).toBe(expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('reply code for a connect error', () => {
  const errno = (code: string) => Object.assign(new Error(code), { code });
  it.each([
    ['ECONNREFUSED', Socks5Reply.CONNECTION_REFUSED],
    ['ENETUNREACH', Socks5Reply.NETWORK_UNREACHABLE],
    ['EHOSTUNREACH', Socks5Reply.HOST_UNREACHABLE],
    ['ENOTFOUND', Socks5Reply.HOST_UNREACHABLE],
    ['ETIMEDOUT', Socks5Reply.TTL_EXPIRED],
    ['EACCES', Socks5Reply.NOT_ALLOWED],
    ['EWHATEVER', Socks5Reply.GENERAL_FAILURE],
  ])('%s → %i', (code, rep) => {
    expect(replyCodeForError(errno(code))).toBe(rep);
  });

  it('looks through causes and understands our own timeouts', () => {
    expect(replyCodeForError(new VproxyError('ERR_CONNECT_TIMEOUT', 't'))).toBe(
      Socks5Reply.TTL_EXPIRED,
    );
    const wrapped = new VproxyError('ERR_CONNECT_FAILED', 'backend failed', {
      cause: errno('ECONNREFUSED'),
    });
    expect(replyCodeForError(wrapped)).toBe(Socks5Reply.CONNECTION_REFUSED);
    expect(replyCodeForError('not an error')).toBe(Socks5Reply.GENERAL_FAILURE);
  });

  it("passes on the reply code of a SOCKS5 server further on (a tunnel's server said 05)", () => {
    const upstream = new Socks5Error('ERR_SOCKS5_REQUEST_FAILED', 'reply', 'refused', {
      replyCode: Socks5Reply.CONNECTION_REFUSED,
      bytes: null,
    });
    expect(replyCodeForError(upstream)).toBe(Socks5Reply.CONNECTION_REFUSED);
    const wrapped = new VproxyError('ERR_CONNECT_FAILED', 'tunnel', { cause: upstream });
    expect(replyCodeForError(wrapped)).toBe(Socks5Reply.CONNECTION_REFUSED);
    // A request we could not parse carries the code we answer with, not a peer's: not ours
    // to pass on as the target's fate.
    const ours = new Socks5Error('ERR_SOCKS5_ADDRESS_TYPE_NOT_SUPPORTED', 'request', 'bad', {
      replyCode: Socks5Reply.ADDRESS_TYPE_NOT_SUPPORTED,
    });
    expect(replyCodeForError(ours)).toBe(Socks5Reply.GENERAL_FAILURE);
  });
});
