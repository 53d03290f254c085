// `vproxy-ts/protocols`: wire codecs usable on any StreamFD: socks5 (RFC 1928 /
// 1929) client and server handshakes and messages, the HAProxy PROXY protocol
// v1 / v2, and RESP. Other codecs under src/protocols (websocks, http-proxy,
// pac, rules) are still moving with the apps that use them and are not public yet.

export {
  encodeProxyHeader,
  encodeProxyV1,
  encodeProxyV2,
} from '../src/protocols/proxy-protocol/encode.js';
export {
  PROXY_HEADER_ERROR_CODES,
  ProxyHeaderError,
  type ProxyHeaderErrorCode,
} from '../src/protocols/proxy-protocol/errors.js';
export {
  type ReadProxyHeaderOptions,
  readProxyHeader,
} from '../src/protocols/proxy-protocol/read-header.js';
export {
  type ProxyCommand,
  type ProxyEndpoint,
  type ProxyFamily,
  type ProxyHeader,
  type ProxyHeaderInit,
  type ProxyTlv,
  ProxyTlvType,
} from '../src/protocols/proxy-protocol/types.js';
export { RESP_ERROR_CODES, RespError, type RespErrorCode } from '../src/protocols/resp/errors.js';
export { DEFAULT_RESP_LIMITS, type RespLimits, RespReader } from '../src/protocols/resp/reader.js';
export { encodeResp, type RespValue } from '../src/protocols/resp/writer.js';
export { type Socks5Endpoint, toEndpoint } from '../src/protocols/socks5/address.js';
export type { Socks5Auth, Socks5UserTable, Socks5VerifyFn } from '../src/protocols/socks5/auth.js';
export {
  type Socks5ClientOptions,
  socks5Connect,
} from '../src/protocols/socks5/client-handshake.js';
export {
  replyText,
  Socks5AddressType,
  type Socks5AddressTypeName,
  Socks5Command,
  type Socks5CommandName,
  Socks5Method,
  Socks5Reply,
  type Socks5ReplyCode,
} from '../src/protocols/socks5/constants.js';
export {
  SOCKS5_ERROR_CODES,
  Socks5Error,
  type Socks5ErrorCode,
  type Socks5Stage,
} from '../src/protocols/socks5/errors.js';
export {
  encodeAuthRequest,
  encodeAuthStatus,
  encodeGreeting,
  encodeMethodSelection,
  encodeReply,
  encodeRequest,
  type Socks5AuthStatus,
  type Socks5Credentials,
  type Socks5Greeting,
  type Socks5MethodSelection,
  type Socks5ReplyMessage,
  type Socks5Request,
} from '../src/protocols/socks5/messages.js';
export {
  type Socks5Accepted,
  type Socks5HandshakeOptions,
  socks5Handshake,
} from '../src/protocols/socks5/server-handshake.js';
export {
  decodeUdpHeader,
  encodeUdpDatagram,
  type Socks5UdpHeader,
} from '../src/protocols/socks5/udp-header.js';
