/** Wire constants of SOCKS5 (RFC 1928) and its username/password method (RFC 1929). */

export const SOCKS5_VERSION = 0x05;
/** Version byte of the RFC 1929 sub-negotiation (not the SOCKS version). */
export const USERPASS_VERSION = 0x01;

export const Socks5Method = {
  NO_AUTH: 0x00,
  GSSAPI: 0x01,
  USERNAME_PASSWORD: 0x02,
  NO_ACCEPTABLE: 0xff,
} as const;
export type Socks5MethodCode = number;

export const Socks5Command = {
  CONNECT: 0x01,
  BIND: 0x02,
  UDP_ASSOCIATE: 0x03,
} as const;
export type Socks5CommandName = 'connect' | 'bind' | 'udp-associate';

export const COMMAND_NAMES: Readonly<Record<number, Socks5CommandName>> = {
  [Socks5Command.CONNECT]: 'connect',
  [Socks5Command.BIND]: 'bind',
  [Socks5Command.UDP_ASSOCIATE]: 'udp-associate',
};

export function commandCode(name: Socks5CommandName): number {
  if (name === 'connect') return Socks5Command.CONNECT;
  if (name === 'bind') return Socks5Command.BIND;
  return Socks5Command.UDP_ASSOCIATE;
}

export const Socks5AddressType = {
  IPV4: 0x01,
  DOMAIN: 0x03,
  IPV6: 0x04,
} as const;
export type Socks5AddressTypeName = 'ipv4' | 'domain' | 'ipv6';

/** REP field of a reply (RFC 1928 §6). */
export const Socks5Reply = {
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED: 0x02,
  NETWORK_UNREACHABLE: 0x03,
  HOST_UNREACHABLE: 0x04,
  CONNECTION_REFUSED: 0x05,
  TTL_EXPIRED: 0x06,
  COMMAND_NOT_SUPPORTED: 0x07,
  ADDRESS_TYPE_NOT_SUPPORTED: 0x08,
} as const;
export type Socks5ReplyCode = (typeof Socks5Reply)[keyof typeof Socks5Reply];

const REPLY_TEXT: readonly string[] = [
  'succeeded',
  'general SOCKS server failure',
  'connection not allowed by ruleset',
  'network unreachable',
  'host unreachable',
  'connection refused',
  'TTL expired',
  'command not supported',
  'address type not supported',
];

/** RFC 1928's wording for a REP code, e.g. `connection refused`; `unassigned (0x2a)` otherwise. */
export function replyText(code: number): string {
  return REPLY_TEXT[code] ?? `unassigned (0x${hex(code)})`;
}

export function isReplyCode(code: number): code is Socks5ReplyCode {
  return Number.isInteger(code) && code >= 0 && code <= 8;
}

/** Two lower-case hex digits, for error messages that quote a byte. */
export function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}

/** RFC 1929 STATUS: 0x00 is success, anything else is failure. */
export const AUTH_SUCCESS = 0x00;
export const AUTH_FAILURE = 0x01;
