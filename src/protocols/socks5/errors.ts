import { type ErrorCodeTable, VproxyError } from '../../fd/errors.js';
import {
  AUTH_FAILURE,
  SOCKS5_VERSION,
  Socks5Method,
  type Socks5ReplyCode,
  USERPASS_VERSION,
} from './constants.js';

/** Codes of the socks5 codec and handshakes (RFC 1928 / 1929, src/protocols/socks5). */
export const SOCKS5_ERROR_CODES = {
  ERR_SOCKS5_BAD_VERSION: 'a message whose version byte is not socks5 (or RFC 1929 auth)',
  ERR_SOCKS5_MALFORMED: 'a received socks5 message that does not parse',
  ERR_SOCKS5_NO_ACCEPTABLE_METHOD: 'no offered auth method is acceptable to the other side',
  ERR_SOCKS5_AUTH_FAILED: 'username/password refused',
  ERR_SOCKS5_COMMAND_NOT_SUPPORTED: 'a command the server does not serve (or has not enabled)',
  ERR_SOCKS5_ADDRESS_TYPE_NOT_SUPPORTED: 'an address type byte socks5 does not define',
  ERR_SOCKS5_TRUNCATED: 'a UDP datagram shorter than its socks5 header',
  ERR_SOCKS5_REQUEST_FAILED: 'the server answered the request with a failure reply',
  ERR_SOCKS5_VALUE_INVALID: 'a value the encoder cannot write (address, port, REP code)',
  ERR_SOCKS5_ALREADY_ANSWERED: 'a second reply to a request already answered',
} as const satisfies ErrorCodeTable;

export type Socks5ErrorCode = keyof typeof SOCKS5_ERROR_CODES;

/** Which message of the exchange was being handled when things went wrong. */
export type Socks5Stage = 'greeting' | 'auth' | 'request' | 'reply' | 'udp' | 'encode';

/**
 * A socks5 failure. Besides the stable code it says what a server must send
 * before closing: `response` holds those exact bytes (a method selection of
 * 0xFF, an RFC 1929 failure status, or a reply with `replyCode`), or is null
 * when the right answer is to close without a word (e.g. not socks5 at all).
 */
export class Socks5Error extends VproxyError<Socks5ErrorCode> {
  readonly stage: Socks5Stage;
  readonly replyCode: Socks5ReplyCode | undefined;
  readonly response: Buffer | null;

  constructor(
    code: Socks5ErrorCode,
    stage: Socks5Stage,
    message: string,
    response: { replyCode?: Socks5ReplyCode; bytes?: Buffer | null } = {},
  ) {
    super(code, `socks5 ${stage}: ${message}`);
    this.name = 'Socks5Error';
    this.stage = stage;
    this.replyCode = response.replyCode;
    this.response =
      response.bytes !== undefined
        ? response.bytes
        : response.replyCode !== undefined
          ? failureReply(response.replyCode)
          : null;
  }
}

/** `05 <rep> 00 01 0.0.0.0:0`: a failure reply carries no meaningful bound address. */
export function failureReply(code: Socks5ReplyCode): Buffer {
  return Buffer.from([SOCKS5_VERSION, code, 0x00, 0x01, 0, 0, 0, 0, 0, 0]);
}

/** `05 FF`: none of the offered methods is acceptable. */
export function noAcceptableMethodResponse(): Buffer {
  return Buffer.from([SOCKS5_VERSION, Socks5Method.NO_ACCEPTABLE]);
}

/** `01 01`: RFC 1929 failure status. */
export function authFailureResponse(): Buffer {
  return Buffer.from([USERPASS_VERSION, AUTH_FAILURE]);
}
