/** Wire constants of the WebSocks protocol (spec apps.md §3). */

/** The RFC 6455 sample nonce every reference agent sends as Sec-WebSocket-Key. */
export const SAMPLE_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
/** base64(sha1(SAMPLE_KEY + WS_GUID)): what a reference agent expects back. */
export const SAMPLE_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';
export const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** The Sec-WebSocket-Protocol value the server requires. */
export const SUBPROTOCOL = 'socks5';
export const WS_VERSION = '13';

/** Length of the "maximum length frame" header each side sends after the 101. */
export const FRAME_HEADER_LENGTH = 10;
/** `82 7F 7F FF FF FF FF FF FF FF`: FIN, binary, unmasked, 64-bit length 2^63 − 1. */
export const MAX_LENGTH_FRAME_HEX = '827f7fffffffffffffff';
/** `8A 00`: an empty, unmasked, final PONG the agent sends to keep a pooled connection warm. */
export const PONG_HEX = '8a00';

/** A fresh copy of the 10-byte frame header (a copy: Buffers cannot be frozen). */
export function maxLengthFrame(): Buffer {
  return Buffer.from(MAX_LENGTH_FRAME_HEX, 'hex');
}

/** A fresh copy of the keepalive PONG. */
export function pongFrame(): Buffer {
  return Buffer.from(PONG_HEX, 'hex');
}
