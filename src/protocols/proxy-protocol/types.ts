/** The HAProxy PROXY protocol (doc/proxy-protocol.txt): shapes shared by encoder and decoder. */

export type ProxyCommand = 'proxy' | 'local';

/**
 * Address family + transport. v1 knows tcp4, tcp6 and UNKNOWN (`unspec`);
 * v2 adds the datagram and UNIX forms.
 */
export type ProxyFamily =
  | 'unspec'
  | 'tcp4'
  | 'udp4'
  | 'tcp6'
  | 'udp6'
  | 'unix-stream'
  | 'unix-dgram';

export interface ProxyEndpoint {
  /** Dotted IPv4 or canonical IPv6 text (as inet_ntop writes it). */
  readonly host: string;
  readonly port: number;
}

/** A v2 Type-Length-Value extension; `value` is a copy, at most 65,535 bytes. */
export interface ProxyTlv {
  readonly type: number;
  readonly value: Buffer;
}

export const ProxyTlvType = {
  ALPN: 0x01,
  AUTHORITY: 0x02,
  CRC32C: 0x03,
  NOOP: 0x04,
  UNIQUE_ID: 0x05,
  SSL: 0x20,
  NETNS: 0x30,
} as const;

export interface ProxyHeader {
  readonly version: 1 | 2;
  /** v1 headers are always `proxy`; a v2 `local` header says: use the real endpoints. */
  readonly command: ProxyCommand;
  readonly family: ProxyFamily;
  /**
   * The original client and the address it connected to. Present for
   * tcp4/tcp6/udp4/udp6 `proxy` headers; absent for UNKNOWN, unspec, LOCAL
   * and UNIX (whose socket paths this decoder does not interpret).
   */
  readonly source?: ProxyEndpoint;
  readonly destination?: ProxyEndpoint;
  readonly tlvs: readonly ProxyTlv[];
  /** Bytes the header took on the wire. */
  readonly length: number;
}

/** What to put in a header. Omitted `family` is taken from the addresses (tcp), or unspec without them. */
export interface ProxyHeaderInit {
  /** v2 only (v1 has no LOCAL); default `proxy`. */
  readonly command?: ProxyCommand;
  readonly family?: Exclude<ProxyFamily, 'unix-stream' | 'unix-dgram'>;
  readonly source?: ProxyEndpoint;
  readonly destination?: ProxyEndpoint;
  /** v2 only. */
  readonly tlvs?: readonly ProxyTlv[];
  /** v2 only: append a PP2_TYPE_CRC32C TLV holding the checksum of the whole header. */
  readonly checksum?: boolean;
}

/** The 12-byte v2 signature: \r\n\r\n\0\r\nQUIT\n. */
export const V2_SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);

/** Longest v1 line the spec lets a receiver expect, CRLF included. */
export const V1_MAX_LENGTH = 107;
