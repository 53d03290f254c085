import { describe, expect, it } from 'vitest';
import { encodeProxyV1 } from '../../../src/protocols/proxy-protocol/index.js';
import { decodeWhole } from './frame-helpers.js';
import { ascii, type Bad, expectError, MAX_TCP6, MAX_UNKNOWN, spec } from './proxy-vectors.js';

describe('PROXY v1: hand-written lines', () => {
  it('TCP4 (the spec example)', () => {
    const line = ascii('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n');
    expect(decodeWhole(spec, line)).toEqual({
      value: {
        version: 1,
        command: 'proxy',
        family: 'tcp4',
        source: { host: '192.168.0.1', port: 56324 },
        destination: { host: '192.168.0.11', port: 443 },
        tlvs: [],
        length: line.length,
      },
      consumed: line.length,
    });
    expect(
      encodeProxyV1({
        source: { host: '192.168.0.1', port: 56324 },
        destination: { host: '192.168.0.11', port: 443 },
      }),
    ).toEqual(line);
  });

  it('TCP6, canonicalised the way inet_ntop writes it', () => {
    const line = ascii('PROXY TCP6 2001:db8::1 ::1 65535 0\r\n');
    const { value } = decodeWhole(spec, ascii('PROXY TCP6 2001:DB8:0:0:0:0:0:1 0::1 65535 0\r\n'));
    expect(value).toMatchObject({
      family: 'tcp6',
      source: { host: '2001:db8::1', port: 65535 },
      destination: { host: '::1', port: 0 },
    });
    expect(
      encodeProxyV1({
        source: { host: '2001:DB8:0:0:0:0:0:1', port: 65535 },
        destination: { host: '::1', port: 0 },
      }),
    ).toEqual(line);
  });

  it('the longest lines the spec allows (104 and 107 bytes)', () => {
    expect(MAX_TCP6.length).toBe(104);
    expect(MAX_UNKNOWN.length).toBe(107);
    expect(decodeWhole(spec, ascii(MAX_TCP6)).value.family).toBe('tcp6');
    expect(decodeWhole(spec, ascii(MAX_UNKNOWN)).value).toEqual({
      version: 1,
      command: 'proxy',
      family: 'unspec',
      tlvs: [],
      length: 107,
    });
  });

  it('UNKNOWN, short form, and the encoder writes it without addresses', () => {
    expect(decodeWhole(spec, ascii('PROXY UNKNOWN\r\n')).value.family).toBe('unspec');
    expect(encodeProxyV1({})).toEqual(ascii('PROXY UNKNOWN\r\n'));
    expect(
      encodeProxyV1({
        family: 'unspec',
        source: { host: '1.1.1.1', port: 1 },
        destination: { host: '2.2.2.2', port: 2 },
      }),
    ).toEqual(ascii('PROXY UNKNOWN\r\n'));
  });

  it('mixed families go as TCP6 with the IPv4 side mapped; mapped pairs go as TCP4', () => {
    expect(
      encodeProxyV1({
        source: { host: '10.0.0.1', port: 1 },
        destination: { host: '::1', port: 2 },
      }),
    ).toEqual(ascii('PROXY TCP6 ::ffff:10.0.0.1 ::1 1 2\r\n'));
    expect(
      encodeProxyV1({
        source: { host: '::ffff:10.0.0.1', port: 1 },
        destination: { host: '::ffff:10.0.0.2', port: 2 },
      }),
    ).toEqual(ascii('PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n'));
  });
});

const badV1: Bad[] = [
  {
    name: 'lower case',
    bytes: ascii('proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /first byte 0x70/,
  },
  {
    name: 'no space after PROXY',
    bytes: ascii('PROXYTCP4'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /start with "PROXY "/,
  },
  {
    name: 'two spaces',
    bytes: ascii('PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /TCP4, TCP6 or UNKNOWN/,
  },
  {
    name: 'TCP5',
    bytes: ascii('PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /TCP4, TCP6 or UNKNOWN/,
  },
  {
    name: 'UNKNOWNX',
    bytes: ascii('PROXY UNKNOWNX\r\n'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /TCP4, TCP6 or UNKNOWN/,
  },
  {
    name: 'leading zero in address',
    bytes: ascii('PROXY TCP4 192.168.0.01 1.2.3.4 1 2\r\n'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /source address "192.168.0.01"/,
  },
  {
    name: 'leading zero in port',
    bytes: ascii('PROXY TCP4 1.2.3.4 5.6.7.8 0443 2\r\n'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /source port "0443"/,
  },
  {
    name: 'port 65536',
    bytes: ascii('PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /destination port "65536"/,
  },
  {
    name: 'IPv6 in TCP4',
    bytes: ascii('PROXY TCP4 ::1 ::1 1 2\r\n'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /not a valid IPv4/,
  },
  {
    name: 'IPv4 in TCP6',
    bytes: ascii('PROXY TCP6 1.2.3.4 ::1 1 2\r\n'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /not a valid IPv6/,
  },
  {
    name: 'zone id',
    bytes: ascii('PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /not a valid IPv6/,
  },
  {
    name: 'missing field',
    bytes: ascii('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /6 fields/,
  },
  {
    name: 'extra field',
    bytes: ascii('PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /6 fields/,
  },
  {
    name: 'bare LF',
    bytes: ascii('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /LF without CR/,
  },
  {
    name: 'CR without LF',
    bytes: ascii('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX'),
    code: 'ERR_PROXY_HEADER_INVALID',
    message: /CR not followed by LF/,
  },
  {
    name: '108-byte line',
    bytes: ascii(`${MAX_UNKNOWN.slice(0, -2)}f\r\n`),
    code: 'ERR_PROXY_HEADER_TOO_LONG',
    message: /107 bytes/,
  },
  {
    name: 'no CRLF at all',
    bytes: ascii(`PROXY UNKNOWN ${'x'.repeat(200)}`),
    code: 'ERR_PROXY_HEADER_TOO_LONG',
    message: /107 bytes/,
  },
];

describe('PROXY v1: bad lines are typed errors', () => {
  it.each(badV1)('$name', ({ bytes, code, message }) => expectError(bytes, code, message));
});
