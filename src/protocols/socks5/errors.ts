import { type ErrorCode, VproxyError } from '../../fd/errors.js';
import {
  AUTH_FAILURE,
  SOCKS5_VERSION,
  Socks5Method,
  type Socks5ReplyCode,
  USERPASS_VERSION,
} from './constants.js';

/** Which message of the exchange was being handled when things went wrong. */
export type Socks5Stage = 'greeting' | 'auth' | 'request' | 'reply' | 'udp';

/**
 * A socks5 failure. Besides the stable code it says what a server must send
 * before closing: `response` holds those exact bytes (a method selection of
 * 0xFF, an RFC 1929 failure status, or a reply with `replyCode`), or is null
 * when the right answer is to close without a word (e.g. not socks5 at all).
 */
export class Socks5Error extends VproxyError {
  readonly stage: Socks5Stage;
  readonly replyCode: Socks5ReplyCode | undefined;
  readonly response: Buffer | null;

  constructor(
    code: ErrorCode,
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
