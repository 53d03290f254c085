/**
 * Every error the project raises on purpose is a VproxyError with a stable `code`,
 * so callers (and the control plane) can branch on codes instead of message text.
 */
export type ErrorCode =
  | 'ERR_ADDRESS_INVALID'
  | 'ERR_SCHEME_UNKNOWN'
  | 'ERR_SCHEME_DUPLICATE'
  | 'ERR_OPTION_UNKNOWN'
  | 'ERR_OPTION_INVALID'
  // a bare option name two layers of a stack know (src/fd/layer-options.ts)
  | 'ERR_OPTION_AMBIGUOUS'
  | 'ERR_CONNECT_TIMEOUT'
  | 'ERR_CONNECT_ABORTED'
  | 'ERR_HANDSHAKE_TIMEOUT'
  | 'ERR_HANDSHAKE_CLOSED'
  | 'ERR_HANDSHAKE_LIMIT'
  | 'ERR_IDLE_TIMEOUT'
  // a half-closed session's open direction was silent for its fin timeout (src/proxy)
  | 'ERR_FIN_TIMEOUT'
  | 'ERR_NO_BACKEND'
  | 'ERR_SESSION_KILLED'
  | 'ERR_NOT_SUPPORTED'
  | 'ERR_CLOSED'
  // socks5 (RFC 1928 / 1929) codec and handshakes (src/protocols/socks5)
  | 'ERR_SOCKS5_BAD_VERSION'
  | 'ERR_SOCKS5_MALFORMED'
  | 'ERR_SOCKS5_NO_ACCEPTABLE_METHOD'
  | 'ERR_SOCKS5_AUTH_FAILED'
  | 'ERR_SOCKS5_COMMAND_NOT_SUPPORTED'
  | 'ERR_SOCKS5_ADDRESS_TYPE_NOT_SUPPORTED'
  | 'ERR_SOCKS5_TRUNCATED'
  | 'ERR_SOCKS5_REQUEST_FAILED'
  // HAProxy PROXY protocol v1 / v2 headers (src/protocols/proxy-protocol)
  | 'ERR_PROXY_HEADER_INVALID'
  | 'ERR_PROXY_HEADER_TOO_LONG'
  | 'ERR_PROXY_HEADER_TRUNCATED'
  | 'ERR_COMMAND_INVALID'
  | 'ERR_RESP_INVALID'
  // controllers (src/control/controllers): a malformed HTTP request, a write
  // without a JSON body, a client throttled after failed authentication
  | 'ERR_REQUEST_INVALID'
  | 'ERR_CONTENT_TYPE_INVALID'
  | 'ERR_AUTH_THROTTLED'
  | 'ERR_IN_USE'
  // a command failed for a reason nobody foresaw; the message carries the cause (src/control)
  | 'ERR_INTERNAL'
  // a config that would not load: save refuses to write it (src/control)
  | 'ERR_CONFIG_INVALID'
  | 'ERR_FORBIDDEN'
  | 'ERR_KCP_CONFIG'
  | 'ERR_KCP_MESSAGE_TOO_LARGE'
  | 'ERR_KCP_BUFFER_TOO_SMALL'
  | 'ERR_KCP_INPUT_INVALID'
  | 'ERR_KCP_DEAD_LINK'
  // stream multiplexing (transports/mux)
  | 'ERR_MUX_PROTOCOL'
  | 'ERR_MUX_FRAME_SIZE'
  | 'ERR_MUX_FLOW_CONTROL'
  | 'ERR_MUX_LIMIT'
  | 'ERR_MUX_GOAWAY'
  | 'ERR_MUX_KEEPALIVE_TIMEOUT'
  | 'ERR_MUX_RESET'
  | 'ERR_MUX_SESSION_CLOSED'
  // WebSocket transport (transports/ws)
  | 'ERR_WS_HANDSHAKE'
  | 'ERR_WS_PROTOCOL'
  | 'ERR_WS_CLOSED'
  | 'ERR_WS_PEER_DEAD'
  // load balancing (src/lb)
  | 'ERR_ALREADY_EXISTS'
  | 'ERR_NOT_FOUND'
  | 'ERR_NAME_INVALID'
  | 'ERR_WEIGHT_INVALID'
  | 'ERR_METHOD_INVALID'
  | 'ERR_HEALTH_CHECK_INVALID'
  | 'ERR_HEALTH_CHECK_FAILED'
  | 'ERR_CIDR_INVALID'
  | 'ERR_PORT_RANGE_INVALID'
  | 'ERR_PROTOCOL_INVALID'
  // WebSocks handshake and agent config (src/protocols/websocks)
  | 'ERR_WEBSOCKS_REQUEST_INVALID'
  | 'ERR_WEBSOCKS_AUTH_FAILED'
  | 'ERR_WEBSOCKS_REPLAYED'
  | 'ERR_WEBSOCKS_RESPONSE_INVALID'
  | 'ERR_WEBSOCKS_CONFIG_INVALID'
  // a websocks-server target on the server's own loopback/link-local addresses (src/websocks)
  | 'ERR_WEBSOCKS_TARGET_DENIED'
  // HTTP/1.1 request heads for proxies (src/protocols/http-proxy)
  | 'ERR_HTTP_MALFORMED'
  | 'ERR_HTTP_HEAD_TOO_LARGE'
  | 'ERR_HTTP_TOO_MANY_HEADERS'
  | 'ERR_HTTP_PROXY_TARGET_INVALID'
  | 'ERR_HTTP_PROXY_UNSUPPORTED'
  // domain rules and ABP lists (src/protocols/rules)
  | 'ERR_RULE_INVALID'
  // service mesh registry and delegates (src/mesh)
  | 'ERR_MESH_NAME_INVALID'
  | 'ERR_MESH_VALUE_INVALID'
  | 'ERR_MESH_NIC_NOT_FOUND'
  | 'ERR_MESH_UNAVAILABLE'
  | 'ERR_MESH_CLOSED'
  // datagrams over streams (src/protocols/datagram-frame)
  | 'ERR_DATAGRAM_TOO_LARGE';

export class VproxyError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VproxyError';
    this.code = code;
  }
}

/** True for errors raised by this project (as opposed to bugs or OS errors). */
export function isVproxyError(err: unknown, code?: ErrorCode): err is VproxyError {
  return err instanceof VproxyError && (code === undefined || err.code === code);
}
