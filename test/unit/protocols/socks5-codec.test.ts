import { describe, expect, it } from 'vitest';
import { isVproxyError } from '../../../src/fd/errors.js';
import type { FrameSpec } from '../../../src/protocols/frame-reader.js';
import {
  authRequestSpec,
  authStatusSpec,
  encodeAuthRequest,
  encodeAuthStatus,
  encodeGreeting,
  encodeMethodSelection,
  encodeReply,
  encodeRequest,
  greetingSpec,
  methodSelectionSpec,
  replySpec,
  replyText,
  requestSpec,
  Socks5Error,
  Socks5Reply,
  type Socks5ReplyCode,
  toEndpoint,
} from '../../../src/protocols/socks5/index.js';
import { decodeWhole, feedInPieces, hexBytes } from './frame-helpers.js';
import { V } from './socks5-vectors.js';

describe('socks5 hand-built vectors decode to the right values', () => {
  it('greetings', () => {
    expect(decodeWhole(greetingSpec, V.greetingNoAuth)).toEqual({
      value: { methods: [0] },
      consumed: 3,
    });
    expect(decodeWhole(greetingSpec, V.greetingBoth).value).toEqual({ methods: [0, 2] });
  });

  it('method selections', () => {
    expect(decodeWhole(methodSelectionSpec, V.selectNoAuth).value).toEqual({ method: 0 });
    expect(decodeWhole(methodSelectionSpec, V.selectUserPass).value).toEqual({ method: 2 });
    expect(decodeWhole(methodSelectionSpec, V.selectNone).value).toEqual({ method: 0xff });
  });

  it('RFC 1929 request and status', () => {
    const { value, consumed } = decodeWhole(authRequestSpec, V.auth);
    expect(consumed).toBe(V.auth.length);
    expect(value.username.toString()).toBe('user');
    expect(value.password.toString()).toBe('secret');
    expect(decodeWhole(authStatusSpec, V.authOk).value).toEqual({ status: 0 });
    expect(decodeWhole(authStatusSpec, V.authFail).value).toEqual({ status: 1 });
  });

  it('requests of every command and address type', () => {
    expect(decodeWhole(requestSpec, V.connectV4).value).toEqual({
      command: 'connect',
      host: '127.0.0.1',
      port: 80,
      addressType: 'ipv4',
    });
    expect(decodeWhole(requestSpec, V.connectDomain).value).toEqual({
      command: 'connect',
      host: 'localhost',
      port: 443,
      addressType: 'domain',
    });
    expect(decodeWhole(requestSpec, V.connectV6).value).toEqual({
      command: 'connect',
      host: '::1',
      port: 8080,
      addressType: 'ipv6',
    });
    expect(decodeWhole(requestSpec, V.bindV4).value).toMatchObject({
      command: 'bind',
      host: '10.0.0.1',
    });
    expect(decodeWhole(requestSpec, V.udpAssociate).value).toEqual({
      command: 'udp-associate',
      host: '0.0.0.0',
      port: 0,
      addressType: 'ipv4',
    });
    expect(decodeWhole(requestSpec, V.udpAssociateV6).value).toMatchObject({
      host: '2001:db8::1',
      port: 54321,
    });
  });
});

describe('socks5 encoders write the hand-built bytes', () => {
  it('every message type', () => {
    expect(encodeGreeting([0])).toEqual(V.greetingNoAuth);
    expect(encodeGreeting([0, 2])).toEqual(V.greetingBoth);
    expect(encodeMethodSelection(0)).toEqual(V.selectNoAuth);
    expect(encodeMethodSelection(0xff)).toEqual(V.selectNone);
    expect(encodeAuthRequest('user', 'secret')).toEqual(V.auth);
    expect(encodeAuthStatus(0)).toEqual(V.authOk);
    expect(encodeAuthStatus(1)).toEqual(V.authFail);
    expect(encodeRequest('connect', toEndpoint('127.0.0.1', 80))).toEqual(V.connectV4);
    expect(encodeRequest('connect', toEndpoint('localhost', 443))).toEqual(V.connectDomain);
    expect(encodeRequest('connect', toEndpoint('::1', 8080))).toEqual(V.connectV6);
    expect(encodeRequest('bind', toEndpoint('10.0.0.1', 0))).toEqual(V.bindV4);
    expect(encodeRequest('udp-associate', toEndpoint('0.0.0.0', 0))).toEqual(V.udpAssociate);
    expect(encodeRequest('udp-associate', toEndpoint('2001:db8::1', 54321))).toEqual(
      V.udpAssociateV6,
    );
  });

  it('an IP literal can be sent as a domain on purpose', () => {
    expect(encodeRequest('connect', toEndpoint('1.2.3.4', 1, 'domain'))).toEqual(
      hexBytes('05 01 00 03 07 312e322e332e34 0001'),
    );
  });

  it('refuses what cannot be encoded', () => {
    const long = 'a'.repeat(256);
    expect(() => encodeRequest('connect', toEndpoint(long, 1))).toThrow(/1-255 bytes/);
    expect(() => encodeRequest('connect', toEndpoint('', 1, 'domain'))).toThrow(/1-255 bytes/);
    expect(() => encodeRequest('connect', toEndpoint('1.2.3.4', 65536))).toThrow(/out of range/);
    expect(() => encodeRequest('connect', toEndpoint('x', 1, 'ipv4'))).toThrow(/not an IPv4/);
    expect(() => encodeGreeting([])).toThrow(/1-255 methods/);
    expect(() => encodeAuthRequest('u'.repeat(256), 'p')).toThrow(/at most 255/);
    expect(() => encodeReply(256)).toThrow(/not a byte/);
  });
});

describe('socks5 replies', () => {
  const codes: [Socks5ReplyCode, string][] = [
    [Socks5Reply.SUCCEEDED, 'succeeded'],
    [Socks5Reply.GENERAL_FAILURE, 'general SOCKS server failure'],
    [Socks5Reply.NOT_ALLOWED, 'connection not allowed by ruleset'],
    [Socks5Reply.NETWORK_UNREACHABLE, 'network unreachable'],
    [Socks5Reply.HOST_UNREACHABLE, 'host unreachable'],
    [Socks5Reply.CONNECTION_REFUSED, 'connection refused'],
    [Socks5Reply.TTL_EXPIRED, 'TTL expired'],
    [Socks5Reply.COMMAND_NOT_SUPPORTED, 'command not supported'],
    [Socks5Reply.ADDRESS_TYPE_NOT_SUPPORTED, 'address type not supported'],
  ];

  it.each(codes)('REP 0x0%i (%s) encodes, decodes and is named', (code, text) => {
    const hand = Buffer.from([5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect(encodeReply(code)).toEqual(hand);
    expect(decodeWhole(replySpec, hand).value).toEqual({
      code,
      host: '0.0.0.0',
      port: 0,
      addressType: 'ipv4',
    });
    expect(replyText(code)).toBe(text);
  });

  it('carries a bound address of each type', () => {
    expect(encodeReply(0, { host: '127.0.0.1', port: 1080 })).toEqual(
      hexBytes('05 00 00 01 7f000001 0438'),
    );
    expect(encodeReply(0, { host: '::1', port: 1080 })).toEqual(
      hexBytes('05 00 00 04 00000000000000000000000000000001 0438'),
    );
    expect(encodeReply(0, { host: 'proxy.example', port: 1 })).toEqual(
      hexBytes('05 00 00 03 0d 70726f78792e6578616d706c65 0001'),
    );
  });

  it('a client still decodes an unassigned REP code', () => {
    expect(decodeWhole(replySpec, hexBytes('05 2a 00 01 00000000 0000')).value.code).toBe(0x2a);
    expect(replyText(0x2a)).toBe('unassigned (0x2a)');
  });
});

interface BadCase {
  readonly name: string;
  readonly spec: FrameSpec<unknown>;
  readonly bytes: Buffer;
  readonly code: string;
  /** What a server must send before closing (hex), or null for a silent close. */
  readonly response: string | null;
}

const badCases: BadCase[] = [
  {
    name: 'socks4 greeting',
    spec: greetingSpec,
    bytes: hexBytes('04 01 00 50'),
    code: 'ERR_SOCKS5_BAD_VERSION',
    response: null,
  },
  {
    name: 'HTTP instead of socks',
    spec: greetingSpec,
    bytes: Buffer.from('GET / HTTP/1.1\r\n'),
    code: 'ERR_SOCKS5_BAD_VERSION',
    response: null,
  },
  {
    name: 'NMETHODS = 0',
    spec: greetingSpec,
    bytes: hexBytes('05 00'),
    code: 'ERR_SOCKS5_MALFORMED',
    response: '05ff',
  },
  {
    name: 'auth version 5',
    spec: authRequestSpec,
    bytes: hexBytes('05 01 61 01 62'),
    code: 'ERR_SOCKS5_MALFORMED',
    response: '0101',
  },
  {
    name: 'request version 4',
    spec: requestSpec,
    bytes: hexBytes('04 01 00 01 7f000001 0050'),
    code: 'ERR_SOCKS5_BAD_VERSION',
    response: '05010001000000000000',
  },
  {
    name: 'unknown command 0x04',
    spec: requestSpec,
    bytes: hexBytes('05 04 00 01 7f000001 0050'),
    code: 'ERR_SOCKS5_COMMAND_NOT_SUPPORTED',
    response: '05070001000000000000',
  },
  {
    name: 'command 0x00',
    spec: requestSpec,
    bytes: hexBytes('05 00 00 01 7f000001 0050'),
    code: 'ERR_SOCKS5_COMMAND_NOT_SUPPORTED',
    response: '05070001000000000000',
  },
  {
    name: 'address type 0x02',
    spec: requestSpec,
    bytes: hexBytes('05 01 00 02 7f000001 0050'),
    code: 'ERR_SOCKS5_ADDRESS_TYPE_NOT_SUPPORTED',
    response: '05080001000000000000',
  },
  {
    name: 'address type 0xff',
    spec: requestSpec,
    bytes: hexBytes('05 01 00 ff'),
    code: 'ERR_SOCKS5_ADDRESS_TYPE_NOT_SUPPORTED',
    response: '05080001000000000000',
  },
  {
    name: 'empty domain',
    spec: requestSpec,
    bytes: hexBytes('05 01 00 03 00 0050'),
    code: 'ERR_SOCKS5_MALFORMED',
    response: '05010001000000000000',
  },
  {
    name: 'domain not UTF-8',
    spec: requestSpec,
    bytes: hexBytes('05 01 00 03 02 c328 0050'),
    code: 'ERR_SOCKS5_MALFORMED',
    response: '05010001000000000000',
  },
  {
    name: 'server version 4',
    spec: methodSelectionSpec,
    bytes: hexBytes('04 00'),
    code: 'ERR_SOCKS5_BAD_VERSION',
    response: null,
  },
  {
    name: 'auth status version 5',
    spec: authStatusSpec,
    bytes: hexBytes('05 00'),
    code: 'ERR_SOCKS5_MALFORMED',
    response: null,
  },
  {
    name: 'reply version 4',
    spec: replySpec,
    bytes: hexBytes('04 00 00 01 00000000 0000'),
    code: 'ERR_SOCKS5_BAD_VERSION',
    response: null,
  },
  {
    name: 'reply address type 0x05',
    spec: replySpec,
    bytes: hexBytes('05 00 00 05'),
    code: 'ERR_SOCKS5_ADDRESS_TYPE_NOT_SUPPORTED',
    response: null,
  },
];

describe('socks5 bad input gives a typed error and the right answer', () => {
  it.each(badCases)('$name', ({ spec, bytes, code, response }) => {
    const outcome = feedInPieces(spec, bytes);
    expect(outcome.kind).toBe('error');
    const err = (outcome as { error: unknown }).error;
    expect(err).toBeInstanceOf(Socks5Error);
    expect(isVproxyError(err)).toBe(true);
    const s5 = err as Socks5Error;
    expect(s5.code).toBe(code);
    expect(s5.message).toMatch(/^socks5 \w+: /);
    expect(s5.response === null ? null : s5.response.toString('hex')).toBe(response);
  });

  it('fails at the first bad byte, before the rest arrives', () => {
    // One byte of a socks4 greeting is enough to know.
    expect(feedInPieces(greetingSpec, hexBytes('04')).kind).toBe('error');
    // The command byte decides before the address arrives.
    expect(feedInPieces(requestSpec, hexBytes('05 09')).kind).toBe('error');
  });

  it('truncation is its own error, carrying general failure at the request stage', () => {
    const err = requestSpec.truncated(5) as Socks5Error;
    expect(err.code).toBe('ERR_SOCKS5_TRUNCATED');
    expect(err.message).toContain('after 5 byte(s)');
    expect(err.replyCode).toBe(Socks5Reply.GENERAL_FAILURE);
    expect((greetingSpec.truncated(1) as Socks5Error).response).toBeNull();
  });
});
