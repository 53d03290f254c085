import { type BasicCredentials, parseBasicAuthorization } from './basic-auth.js';
import { malformed } from './errors.js';
import { rewriteForOrigin } from './forward.js';
import { headerTokens, singleHeader } from './head-fields.js';
import type { HeadLimits } from './head-scanner.js';
import { type RequestHead, RequestHeadReader } from './request-head.js';
import { parseAbsoluteUri, parseAuthority, type Target } from './target.js';

/** What a client asked an HTTP proxy front end for. */
export type ProxyRequest =
  /** `CONNECT host:port`: answer 200, then relay raw bytes to the target. */
  | {
      readonly kind: 'connect';
      readonly target: Target;
      readonly credentials: BasicCredentials | null;
      readonly head: RequestHead;
    }
  /** `METHOD http://host/…`: send `forwardHead` (origin-form) to the target, then relay. */
  | {
      readonly kind: 'forward';
      readonly target: Target;
      readonly credentials: BasicCredentials | null;
      readonly head: RequestHead;
      readonly forwardHead: Buffer;
    }
  /**
   * An origin-form (`GET /x`) or asterisk-form request addressed to the proxy
   * itself: the front end may serve it (a PAC file, say) or answer 400.
   */
  | {
      readonly kind: 'local';
      readonly credentials: BasicCredentials | null;
      readonly head: RequestHead;
    };

/**
 * Body framing a raw relay cannot re-frame: both Content-Length and
 * Transfer-Encoding, or a Transfer-Encoding that does not end in chunked, leave
 * the request's end ambiguous (RFC 9112 §6.3), so such requests are refused.
 */
function checkFraming(head: RequestHead): void {
  singleHeader(head.headers, 'content-length');
  const codings = headerTokens(head.headers, 'transfer-encoding');
  if (codings.length === 0) return;
  if (head.headers.some((f) => f.key === 'content-length')) {
    throw malformed('both Content-Length and Transfer-Encoding');
  }
  if (codings[codings.length - 1] !== 'chunked') {
    throw malformed('Transfer-Encoding does not end with chunked');
  }
}

/** A complete request head → what it asks of the proxy. Throws HttpError. */
export function interpretProxyRequest(head: RequestHead): ProxyRequest {
  const auth = singleHeader(head.headers, 'proxy-authorization');
  const credentials = auth === undefined ? null : parseBasicAuthorization(auth);
  if (head.method === 'CONNECT') {
    return { kind: 'connect', target: parseAuthority(head.target), credentials, head };
  }
  if (head.target.startsWith('/') || head.target === '*') {
    return { kind: 'local', credentials, head };
  }
  checkFraming(head);
  const { target, originForm } = parseAbsoluteUri(head.target);
  const forwardHead = rewriteForOrigin(head, target, originForm);
  return { kind: 'forward', target, credentials, head, forwardHead };
}

/**
 * Reads one proxy request from a client's chunks. push() returns null until
 * the head is complete, then the request and the bytes after the head (tunnel
 * data for CONNECT, the start of the body for a forwarded request). Every
 * refusal is an HttpError whose `status` is the answer to send.
 */
export class ProxyRequestReader {
  readonly #reader: RequestHeadReader;

  constructor(limits: Partial<HeadLimits> = {}) {
    this.#reader = new RequestHeadReader(limits);
  }

  get buffered(): number {
    return this.#reader.buffered;
  }

  push(chunk: Uint8Array): { request: ProxyRequest; leftover: Buffer } | null {
    const read = this.#reader.push(chunk);
    if (read === null) return null;
    return { request: interpretProxyRequest(read.head), leftover: read.leftover };
  }
}
