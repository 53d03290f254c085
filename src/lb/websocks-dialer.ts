import type { Address } from '../fd/address.js';
import { deadline } from '../fd/deadline.js';
import { type CoreErrorCode, connectFailureCode, VproxyError } from '../fd/errors.js';
import type { Registry } from '../fd/registry.js';
import { abortStream, type StreamFD } from '../fd/stream-fd.js';
import type { FrameSpec } from '../protocols/frame-reader.js';
import { HttpError } from '../protocols/http-proxy/errors.js';
import { parseResponseHead, type ResponseHead } from '../protocols/http-proxy/response-head.js';
import { readFrame } from '../protocols/read-frame.js';
import {
  hex,
  isReplyCode,
  replyText,
  Socks5Method,
  Socks5Reply,
} from '../protocols/socks5/constants.js';
import { Socks5Error } from '../protocols/socks5/errors.js';
import type { Socks5ReplyMessage } from '../protocols/socks5/messages.js';
import { methodSelectionSpec, replySpec } from '../protocols/socks5/parsers.js';
import { buildUpgradeRequest } from '../protocols/websocks/client-request.js';
import { FRAME_HEADER_LENGTH } from '../protocols/websocks/constants.js';
import { WebsocksError } from '../protocols/websocks/errors.js';
import {
  authorizationValue,
  TICKET_HEADER,
  ticketValue,
} from '../protocols/websocks/password-hash.js';
import { tunnelSteps } from '../protocols/websocks/socks-stage.js';
import { checkSwitchingProtocols } from '../protocols/websocks/upgrade-response.js';

/** How to reach one WebSocks server and how to introduce ourselves to it. */
export interface WebsocksServerSpec {
  /**
   * The stream to open: `tcp://ip:port`, `tls://host:port?sni=…`, `kcp://…`,
   * `tls+kcp://…` — anything the registry carries. In CDN mode this is the
   * edge's address, while `host`/`hostHeader` name the origin.
   */
  readonly dial: Address;
  /** The server's configured name or IP (Host header default). */
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  readonly user: string;
  readonly password: string;
  /** CDN mode: the request path (default `/`). */
  readonly path?: string;
  /** CDN mode: the Host header, when not derived from host and port. */
  readonly hostHeader?: string;
  /** CDN mode: extra request headers. */
  readonly extraHeaders?: readonly (readonly [string, string])[];
  /**
   * Framed mode, for gateways that parse WebSocket frames: the stream is the
   * registry's ws layer (standard masked frames) on this scheme and
   * authority, the SOCKS5 stage inside binary messages, no 10-byte frame.
   * `query` holds the lower layers' options (`tls.ca=…`, `kcp.mode=…`).
   */
  readonly framed?: {
    readonly scheme: string;
    readonly authority: string;
    readonly query: readonly string[];
  };
}

/** Which step of opening a tunnel failed — the cause the agent logs. */
export type TunnelStage = 'dial' | 'upgrade' | 'frame' | 'socks';

/**
 * A tunnel that could not be opened, with the step that failed and, for a
 * refused upgrade, the server's status (401: our credentials were refused).
 */
export class TunnelError extends VproxyError {
  readonly stage: TunnelStage;
  readonly status: number | null;

  constructor(stage: TunnelStage, message: string, status: number | null, cause: unknown) {
    super(tunnelCode(cause), `websocks tunnel (${stage}): ${message}`, { cause });
    this.name = 'TunnelError';
    this.stage = stage;
    this.status = status;
  }
}

function tunnelCode(cause: unknown): CoreErrorCode {
  // The cause's own code says it best (timeout, refused, bad 101, socks5 reply): a
  // module's code when it has one, else the OS error's generic code.
  return connectFailureCode(cause) as CoreErrorCode;
}

/** The server's 101 head: everything up to CRLF CRLF, at most 16 KiB. */
const responseHeadSpec: FrameSpec<ResponseHead> = {
  maxLength: 16 * 1024,
  frameLength(buf, have) {
    const view = Buffer.from(buf.buffer, buf.byteOffset, have);
    const end = view.indexOf('\r\n\r\n', 0, 'latin1');
    if (end >= 0) return end + 4;
    if (have >= 16 * 1024)
      throw new HttpError('ERR_HTTP_HEAD_TOO_LARGE', 431, 'upgrade response head too large');
    return have + 1;
  },
  decode: (buf, length) => parseResponseHead(Buffer.from(buf.subarray(0, length))),
  truncated: () =>
    new VproxyError(
      'ERR_PREMATURE_CLOSE',
      'the server closed the connection before answering the upgrade',
    ),
};

/** The server's 10 bytes, whatever they say (§3.5: never validated). */
const frameSpec: FrameSpec<Buffer> = {
  maxLength: FRAME_HEADER_LENGTH,
  frameLength: () => FRAME_HEADER_LENGTH,
  decode: (buf) => Buffer.from(buf.subarray(0, FRAME_HEADER_LENGTH)),
  truncated: (have) =>
    new VproxyError('ERR_PREMATURE_CLOSE', `the server closed after ${have} of its 10 frame bytes`),
};

export interface TunnelTiming {
  /** The whole step gives up after this long (ERR_HANDSHAKE_TIMEOUT). */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

function timeoutError(what: string, ms: number): VproxyError {
  return new VproxyError('ERR_HANDSHAKE_TIMEOUT', `${what}: no answer within ${ms} ms`);
}

/**
 * One signal for "past `ms`, or the caller aborted": a timer and a listener on
 * one controller, both dropped by cancel(). (AbortSignal.any costs tens of
 * microseconds per call in Node 20, on every open's path.)
 */
function linked(ms: number, what: string, signal: AbortSignal | undefined) {
  if (signal === undefined) return deadline(ms, () => timeoutError(what, ms));
  const both = new AbortController();
  const onAbort = () => both.abort(signal.reason);
  const timer = ms > 0 ? setTimeout(() => both.abort(timeoutError(what, ms)), ms) : undefined;
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return {
    signal: both.signal,
    cancel: () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    },
  };
}

/**
 * Framed mode: a ws-layer stream to the server, upgraded with this minute's
 * Authorization and a single-use Websocks-Ticket, as the raw mode's upgrade
 * (a CDN terminates TLS and sees the request: without the ticket, a logged
 * header could open connections until its minutes run out). The address is
 * new per connection; its parsed options go with it (a WeakMap entry).
 */
export async function dialFramed(
  registry: Registry,
  spec: WebsocksServerSpec,
  timing: TunnelTiming,
  nowMs: number = Date.now(),
): Promise<StreamFD> {
  const f = spec.framed as NonNullable<WebsocksServerSpec['framed']>;
  const headers = [
    `Authorization:${authorizationValue(spec.user, spec.password, nowMs)}`,
    `${TICKET_HEADER}:${ticketValue(spec.user, spec.password, nowMs)}`,
    ...(spec.extraHeaders ?? []).map(([n, v]) => `${n}:${v}`),
  ].join('|');
  const query = [
    'ws.subprotocol=socks5',
    `ws.headers=${encodeURIComponent(headers)}`,
    ...(spec.hostHeader === undefined ? [] : [`ws.host=${encodeURIComponent(spec.hostHeader)}`]),
    ...f.query,
  ];
  try {
    const address = registry.parse(
      `${f.scheme}://${f.authority}${spec.path ?? '/'}?${query.join('&')}`,
    );
    return await registry.connect(address, {
      timeoutMs: timing.timeoutMs,
      ...(timing.signal ? { signal: timing.signal } : {}),
    });
  } catch (err) {
    const status = /\b401\b/.test((err as Error).message) ? 401 : null;
    throw new TunnelError('upgrade', (err as Error).message, status, err);
  }
}

/**
 * Framed mode's SOCKS5 stage: greeting and CONNECT in one message, then the
 * method and CONNECT replies (no 10-byte frame: the framing is real).
 */
export async function openFramedTarget(
  fd: StreamFD,
  host: string,
  port: number,
  options: TunnelTiming,
): Promise<void> {
  const limit = linked(options.timeoutMs, 'websocks socks5 reply', options.signal);
  const guard = () => {};
  fd.on('error', guard);
  try {
    const steps = tunnelSteps(host, port);
    fd.write(Buffer.concat([steps.greeting, steps.connect]));
    await readMethod(fd, limit.signal);
    await readReply(fd, host, port, limit.signal);
  } catch (err) {
    abortStream(fd);
    const cause = limit.signal.aborted ? (limit.signal.reason ?? err) : err;
    throw new TunnelError('socks', (cause as Error).message, null, cause);
  } finally {
    limit.cancel();
    fd.off('error', guard);
  }
}

/** Open the stream to a server (TCP, TLS, KCP… as its dial address says). */
export async function dialServer(
  registry: Registry,
  spec: WebsocksServerSpec,
  timing: TunnelTiming,
): Promise<StreamFD> {
  try {
    return await registry.connect(spec.dial, {
      timeoutMs: timing.timeoutMs,
      ...(timing.signal ? { signal: timing.signal } : {}),
    });
  } catch (err) {
    throw new TunnelError('dial', (err as Error).message, null, err);
  }
}

/**
 * Send the upgrade request (§3.1) and check the 101 (§3.4). Nothing is
 * written after the request until the 101 has arrived. The stream is
 * destroyed on failure.
 */
export async function upgradeTunnel(
  fd: StreamFD,
  spec: WebsocksServerSpec,
  timing: TunnelTiming,
  nowMs: number = Date.now(),
): Promise<void> {
  const request = buildUpgradeRequest({
    host: spec.host,
    port: spec.port,
    tls: spec.tls,
    user: spec.user,
    password: spec.password,
    nowMs,
    // Single use per connection on servers that know the ticket; ignored by the reference.
    ticket: true,
    ...(spec.path === undefined ? {} : { path: spec.path }),
    ...(spec.hostHeader === undefined ? {} : { hostHeader: spec.hostHeader }),
    ...(spec.extraHeaders === undefined ? {} : { extraHeaders: spec.extraHeaders }),
  });
  const limit = linked(timing.timeoutMs, 'websocks upgrade', timing.signal);
  const guard = () => {};
  fd.on('error', guard);
  try {
    fd.write(request);
    const head = await readFrame(fd, responseHeadSpec, limit.signal);
    checkSwitchingProtocols(head);
  } catch (err) {
    abortStream(fd);
    const status = err instanceof WebsocksError ? err.status : null;
    throw new TunnelError('upgrade', (err as Error).message, status, err);
  } finally {
    limit.cancel();
    fd.off('error', guard);
  }
}

export interface OpenTargetOptions extends TunnelTiming {
  /** §3.7: wait for each reply before the next step (default false: one write). */
  readonly strict?: boolean;
}

/**
 * On an upgraded connection: the 10-byte frame, then the SOCKS5 stage to
 * `host:port` (§3.5–3.7). Resolves when the server's CONNECT reply said yes;
 * the target's first bytes, if they came with the reply, stay in the stream.
 * The server's 10 bytes double as the tunnel's ping: a pooled connection that
 * a middlebox silently dropped never answers them, and `timeoutMs` says so.
 */
export async function openTarget(
  fd: StreamFD,
  host: string,
  port: number,
  options: OpenTargetOptions,
): Promise<void> {
  const limit = linked(options.timeoutMs, 'websocks frame/socks5 reply', options.signal);
  const guard = () => {};
  fd.on('error', guard);
  let stage: TunnelStage = 'frame';
  const progress = { frameDone: false };
  try {
    const steps = tunnelSteps(host, port);
    if (options.strict) {
      fd.write(steps.frame);
      await readFrame(fd, frameSpec, limit.signal);
      stage = 'socks';
      fd.write(steps.greeting);
      await readMethod(fd, limit.signal);
      fd.write(steps.connect);
      await readReply(fd, host, port, limit.signal);
    } else {
      fd.write(Buffer.concat([steps.frame, steps.greeting, steps.connect]));
      // The three answers in one read: they come in one segment from our server
      // (and in any pieces from others); one reader instead of three.
      const answers = await readFrame(fd, pipelinedAnswersSpec(progress), limit.signal);
      checkReply(answers.reply.code, host, port);
    }
  } catch (err) {
    if (progress.frameDone) stage = 'socks';
    abortStream(fd);
    const cause = limit.signal.aborted ? (limit.signal.reason ?? err) : err;
    throw new TunnelError(stage, (cause as Error).message, null, cause);
  } finally {
    limit.cancel();
    fd.off('error', guard);
  }
}

async function readMethod(fd: StreamFD, signal: AbortSignal): Promise<void> {
  checkMethod((await readFrame(fd, methodSelectionSpec, signal)).method);
}

function checkMethod(method: number): void {
  if (method !== Socks5Method.NO_AUTH) {
    throw new Socks5Error(
      'ERR_SOCKS5_NO_ACCEPTABLE_METHOD',
      'greeting',
      `server chose method ${hex(method)}, we offered 00`,
    );
  }
}

async function readReply(
  fd: StreamFD,
  host: string,
  port: number,
  signal: AbortSignal,
): Promise<void> {
  checkReply((await readFrame(fd, replySpec, signal)).code, host, port);
}

/** Throws the Socks5Error of a CONNECT reply that did not say yes. */
export function checkReply(code: number, host: string, port: number): void {
  if (code !== Socks5Reply.SUCCEEDED) {
    throw new Socks5Error(
      'ERR_SOCKS5_REQUEST_FAILED',
      'reply',
      `server answered 0x${hex(code)} (${replyText(code)}) for ${host}:${port}`,
      isReplyCode(code) ? { replyCode: code, bytes: null } : {},
    );
  }
}

const METHOD_AT = FRAME_HEADER_LENGTH;
const REPLY_AT = FRAME_HEADER_LENGTH + 2;

/**
 * Strict mode off: the server's 10 bytes (never validated), its method
 * selection and its CONNECT reply as one message, each part checked as it
 * arrives and failing as the separate readers would. `progress.frameDone` tells the
 * caller which step a timeout or close interrupted.
 */
export function pipelinedAnswersSpec(progress: {
  frameDone: boolean;
}): FrameSpec<{ reply: Socks5ReplyMessage }> {
  return {
    maxLength: REPLY_AT + replySpec.maxLength,
    frameLength(buf, have) {
      if (have < METHOD_AT) return METHOD_AT;
      progress.frameDone = true;
      if (have < REPLY_AT) {
        if (have > METHOD_AT) methodSelectionSpec.frameLength(buf.subarray(METHOD_AT), 1);
        return REPLY_AT;
      }
      methodSelectionSpec.frameLength(buf.subarray(METHOD_AT), 2);
      checkMethod(buf[METHOD_AT + 1] as number); // a refusal is followed by no reply
      // The reply's spec looks at its first byte: ask for one when there is none yet.
      if (have === REPLY_AT) return REPLY_AT + 1;
      return REPLY_AT + replySpec.frameLength(buf.subarray(REPLY_AT), have - REPLY_AT);
    },
    decode: (buf, length) => ({
      reply: replySpec.decode(buf.subarray(REPLY_AT), length - REPLY_AT),
    }),
    truncated: (have) =>
      have < METHOD_AT
        ? frameSpec.truncated(have)
        : have < REPLY_AT
          ? methodSelectionSpec.truncated(have - METHOD_AT)
          : replySpec.truncated(have - REPLY_AT),
  };
}
