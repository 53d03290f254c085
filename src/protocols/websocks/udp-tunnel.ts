/**
 * UDP through a WebSocks tunnel (our extension; the reference protocol carries
 * TCP only). The agent opens an ordinary tunnel whose SOCKS5 CONNECT names a
 * reserved target, and the stream then carries datagrams, each framed by
 * datagram-frame (2-byte length) and each starting with an RFC 1928 UDP
 * request header (RSV RSV FRAG ATYP DST.ADDR DST.PORT): the agent forwards
 * its SOCKS5 clients' datagrams as they came, and gets the answers back in the
 * same form, the header naming their source — ready to send to the client.
 *
 * The target is a name under `.arpa` (never resolvable), so a server without
 * the extension (the reference) answers the CONNECT with a failure, and the
 * agent knows its datagrams cannot go that way. The port is the framing's
 * version.
 */
export const UDP_TUNNEL_HOST = 'udp-over-stream.websocks.arpa';
export const UDP_TUNNEL_PORT = 1;

export function isUdpTunnelTarget(host: string, port: number): boolean {
  return port === UDP_TUNNEL_PORT && host.toLowerCase() === UDP_TUNNEL_HOST;
}
