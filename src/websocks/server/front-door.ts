import type { Logger } from '../../fd/logger.js';
import { describePeer, type StreamFD } from '../../fd/stream-fd.js';
import { HttpError } from '../../protocols/http-proxy/errors.js';
import { headerValues } from '../../protocols/http-proxy/head-fields.js';
import { type RequestHead, RequestHeadReader } from '../../protocols/http-proxy/request-head.js';
import { maxLengthFrame } from '../../protocols/websocks/constants.js';
import { WebsocksError } from '../../protocols/websocks/errors.js';
import { FramePreamble } from '../../protocols/websocks/frame.js';
import { isUpgradeAttempt } from '../../protocols/websocks/server-check.js';
import type { SiteAnswer } from './nginx-pages.js';
import { Pull } from './pull.js';
import type { RequestContext } from './static-site.js';

/** What answers every request that is not an accepted tunnel (the decoy site, or the redirect port). */
export interface WebSite {
  answer(head: RequestHead, context: RequestContext): Promise<SiteAnswer>;
  badRequest(): SiteAnswer;
}

/** Why a connection never became a tunnel, counted per cause. */
export type FrontDoorOutcome =
  | 'web'
  | 'bad-request'
  | 'timeout'
  | 'gone'
  | 'oversize-body'
  | 'frame-timeout';

export interface FrontDoorOptions {
  readonly site: WebSite;
  readonly context: RequestContext;
  /**
   * The §3.3 checks of an upgrade request (checkUpgradeRequest with the
   * server's users, clock, replay cache and path); null refuses every upgrade
   * (the redirect port). Returns the 101 to send, or throws a WebsocksError.
   */
  readonly accept: ((head: RequestHead, leftover: number) => Buffer) | null;
  /** A request head must be complete this long after the previous answer (or the connect). */
  readonly headerTimeoutMs: number;
  /**
   * After the 101, the client's 10-byte frame header must come within this long;
   * each PONG a pooled client sends restarts it.
   */
  readonly poolIdleTimeoutMs: number;
  /**
   * Framed mode: a client whose first frame after the 101 is masked speaks
   * standard WebSocket frames (it passes gateways that parse frames), with the
   * SOCKS5 stage inside binary messages and no 10-byte frame. Given the socket
   * and the bytes already read, returns the stream of message payloads; absent,
   * such clients are closed.
   */
  readonly framed?: FramedAdopter;
  readonly log: Logger;
  /**
   * Raw-mode tunnels whose client pipelined its SOCKS5 stage behind its frame
   * header go in here with our 10-byte frame unsent: it is owed, and the
   * SOCKS5 stage sends it in the same write as its first answer (one segment
   * instead of three). Absent: the frame is always written at once.
   */
  readonly owedFrames?: WeakSet<StreamFD>;
  /** Called once per refused upgrade (for counters), with its cause. */
  readonly onRefused: (err: WebsocksError) => void;
}

/** Builds a stream of message payloads over a socket right after the 101 (see FrontDoorOptions.framed). */
export type FramedAdopter = (socket: StreamFD, head: Buffer) => StreamFD;

/** How the client crossed the door. */
interface Tunnel {
  readonly kind: 'tunnel';
  /** Framed mode: the bytes of the first frames, read already. */
  readonly framedHead: Buffer | null;
}

// nginx reads and drops a small body of a GET; larger ones end the connection.
const MAX_DISCARDED_BODY = 64 * 1024;

/**
 * One client at the door: serve web requests (keep-alive, pipelined, in
 * order) until one is an accepted WebSocks upgrade; then the 101, the 10-byte
 * frame exchange with PONGs stripped (§3.5, §3.8), and resolve with the
 * stream, paused, every byte after the client's frame header put back (the
 * SOCKS5 stage reads them). A refused upgrade gets exactly the site's answer to
 * that request and the connection goes on as a web connection. Resolves null
 * once the connection ended as a web client (closed by us or by it).
 */
export async function frontDoor(fd: StreamFD, options: FrontDoorOptions): Promise<StreamFD | null> {
  const pull = new Pull(fd);
  const onError = () => fd.destroy();
  fd.on('error', onError);
  const outcome = await serve(fd, pull, options).catch((err: unknown) => {
    options.log.warn('websocks-door-failed', {
      client: describePeer(fd),
      error: err instanceof Error ? err.message : String(err),
    });
    fd.destroy();
    return 'gone' as const;
  });
  if (typeof outcome === 'object') {
    pull.detach();
    fd.off('error', onError);
    if (outcome.framedHead === null) return fd;
    if (options.framed !== undefined) return options.framed(fd, outcome.framedHead);
    options.log.info('websocks-refused', {
      client: describePeer(fd),
      check: 'framed',
      reason: 'a framed-mode client, and framed mode is off',
    });
    fd.destroy();
    return null;
  }
  fd.off('error', onError);
  pull.detach();
  fd.on('error', () => {});
  // A half-sent request or a silent 101 is cut off; everything else ends as nginx
  // would, with a FIN after our last answer is flushed (a client that half-closed
  // after its request still gets all of the answer).
  if (outcome === 'timeout' || outcome === 'frame-timeout') fd.destroy();
  else endThenDestroy(fd);
  return null;
}

async function serve(
  fd: StreamFD,
  pull: Pull,
  options: FrontDoorOptions,
): Promise<FrontDoorOutcome | Tunnel> {
  for (;;) {
    const deadline = Date.now() + options.headerTimeoutMs;
    const reader = new RequestHeadReader();
    let got: { head: RequestHead; leftover: Buffer } | null = null;
    let started = false;
    while (got === null) {
      const chunk = await pull.next(deadline);
      if (chunk === 'end') return 'gone';
      // nginx closes an idle keep-alive connection silently, and a half-sent request with 408 unsent.
      if (chunk === 'timeout') return started ? 'timeout' : 'gone';
      started = true;
      try {
        got = reader.push(chunk);
      } catch (err) {
        if (!(err instanceof HttpError)) throw err;
        await write(fd, options.site.badRequest());
        return 'bad-request';
      }
    }
    const { head, leftover } = got;
    if (isUpgradeAttempt(head) && options.accept !== null) {
      try {
        const reply = options.accept(head, leftover.length);
        fd.write(reply);
        return await frameStage(fd, pull, leftover, options);
      } catch (err) {
        if (!(err instanceof WebsocksError)) throw err;
        options.onRefused(err);
        if (options.log.enabled('info')) {
          options.log.info('websocks-refused', {
            client: describePeer(fd),
            check: err.check,
            reason: err.message,
          });
        }
      }
    }
    const answer = await options.site.answer(head, options.context);
    if (!(await write(fd, answer)) || answer.close) return 'web';
    const body = bodyLength(head);
    if (body === null) return 'oversize-body';
    pull.putBack(leftover);
    if (body > 0 && !(await discard(pull, body, deadline + options.headerTimeoutMs))) return 'gone';
  }
}

/**
 * After the 101: which mode, by the client's first frame. Unmasked (the raw
 * WebSocks header `82 7F …`, after any `8A 00` PONGs of a pooled connection)
 * → the 10-byte exchange of §3.5, ours sent after theirs; masked → framed mode.
 */
async function frameStage(
  fd: StreamFD,
  pull: Pull,
  leftover: Buffer,
  options: FrontDoorOptions,
): Promise<FrontDoorOutcome | Tunnel> {
  const preamble = new FramePreamble({ stripPongs: true });
  let sniff: Buffer | null = Buffer.alloc(0);
  let pongs = 0;
  let deadline = Date.now() + options.poolIdleTimeoutMs;
  let chunk: Buffer | 'end' | 'timeout' = leftover;
  for (;;) {
    if (chunk === 'end') return 'gone';
    if (chunk === 'timeout') return 'frame-timeout';
    let input: Buffer = chunk;
    if (sniff !== null) {
      sniff = Buffer.concat([sniff, chunk]);
      let i = 0;
      // Unmasked PONGs (raw mode's pool keepalive) say nothing about the mode yet.
      while (i + 1 < sniff.length && isUnmaskedPong(sniff, i)) i += 2;
      if (i / 2 !== pongs) {
        pongs = i / 2;
        deadline = Date.now() + options.poolIdleTimeoutMs;
      }
      if (i + 1 >= sniff.length) {
        chunk = await pull.next(deadline);
        continue;
      }
      if (((sniff[i + 1] as number) & 0x80) !== 0) {
        return { kind: 'tunnel', framedHead: sniff.subarray(i) };
      }
      input = sniff;
      sniff = null;
    }
    const result = preamble.push(input);
    if (result.done) {
      if (preamble.oddPongs > 0) {
        options.log.debug('websocks-odd-pong', {
          client: describePeer(fd),
          count: preamble.oddPongs,
        });
      }
      // A client that sent more than its frame is not waiting for ours (strict
      // mode waits, and gets it now).
      if (result.leftover.length > 0 && options.owedFrames !== undefined) {
        options.owedFrames.add(fd);
      } else fd.write(maxLengthFrame());
      pull.putBack(result.leftover);
      return { kind: 'tunnel', framedHead: null };
    }
    chunk = await pull.next(deadline);
  }
}

function isUnmaskedPong(bytes: Buffer, at: number): boolean {
  return ((bytes[at] as number) & 0x0f) === 0x0a && ((bytes[at + 1] as number) & 0x80) === 0;
}

/** Content-Length of a web request's body (0 without one); null when it cannot be skipped. */
function bodyLength(head: RequestHead): number | null {
  if (head.headers.some((f) => f.key === 'transfer-encoding')) return null;
  const values = headerValues(head.headers, 'content-length');
  if (values.length === 0) return 0;
  if (values.length > 1 || !/^[0-9]{1,10}$/.test(values[0] as string)) return null;
  const n = Number(values[0]);
  return n <= MAX_DISCARDED_BODY ? n : null;
}

async function discard(pull: Pull, length: number, deadline: number): Promise<boolean> {
  let left = length;
  while (left > 0) {
    const chunk = await pull.next(deadline);
    if (typeof chunk === 'string') return false;
    if (chunk.length > left) pull.putBack(chunk.subarray(left));
    left -= Math.min(left, chunk.length);
  }
  return true;
}

/**
 * Write an answer; while the client does not read it, wait (reading nothing
 * more) up to `WRITE_TIMEOUT_MS`, then give up on it.
 */
async function write(fd: StreamFD, answer: SiteAnswer): Promise<boolean> {
  if (fd.destroyed || !fd.writable) return false;
  const first = fd.write(answer.head);
  const ok = answer.body === null || answer.body.length === 0 ? first : fd.write(answer.body);
  if (ok) return true;
  return new Promise<boolean>((resolve) => {
    const done = (v: boolean) => {
      clearTimeout(timer);
      fd.off('drain', onDrain);
      fd.off('close', onClose);
      if (!v) fd.destroy();
      resolve(v);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    const timer = setTimeout(() => done(false), WRITE_TIMEOUT_MS);
    fd.on('drain', onDrain);
    fd.on('close', onClose);
  });
}

const WRITE_TIMEOUT_MS = 30_000;

function endThenDestroy(fd: StreamFD): void {
  if (fd.destroyed) return;
  // A client that never reads our last answer must not hold the fd: 5 s to flush it.
  const timer = setTimeout(() => fd.destroy(), 5_000);
  timer.unref();
  fd.once('close', () => clearTimeout(timer));
  fd.end(() => fd.destroy());
}
