import { SmuxError } from './errors.js';
import {
  CMD_FIN,
  CMD_NOP,
  CMD_PSH,
  CMD_SYN,
  CMD_UPD,
  encodeControl,
  encodePush,
  encodeUpdate,
  type SmuxFrame,
  type SmuxVersion,
} from './frame.js';
import { SmuxParser } from './parser.js';

export interface SmuxSessionOptions {
  version: SmuxVersion;
  /** Client sessions open odd stream ids (3, 5, …), servers even ones (2, 4, …). */
  client: boolean;
  /** The caller's clock, in ms: the session keeps no timers of its own. */
  now: number;
  /** NOP interval in ms (smux default 10 s; kcptun's --keepalive); 0 disables keepalive. */
  keepAliveInterval?: number;
  /** Dead when nothing arrived for this long, checked once per period (smux default 30 s). */
  keepAliveTimeout?: number;
  /** Largest PSH body written (smux default 32768). */
  maxFrameSize?: number;
  /** Unconsumed bytes across streams before `wantsInput` turns false (smux default 4 MiB). */
  maxReceiveBuffer?: number;
  /** v2 per-stream window offered to the peer (kcptun's --streambuf, 2 MiB there). */
  maxStreamBuffer?: number;
}

/** What the session asks of its owner; every call is synchronous. */
export interface SmuxSessionHandler {
  /** Bytes to write to the underlying connection, in order. */
  output(bytes: Buffer): void;
  /** The peer opened stream `sid`. */
  accept(sid: number): void;
  /** Data for an open stream; call consumed() once the application has taken it. */
  data(sid: number, data: Buffer): void;
  /** The peer closed its side of `sid` (no more data will come). */
  fin(sid: number): void;
  /** v2: data queued by write() has all gone out; the stream may write again. */
  writable(sid: number): void;
  /** The session is dead (null: closed locally without error). Called once. */
  closed(err: SmuxError | null): void;
}

/** smux v2's initial guess of the peer's window, before its first UPD (frame.go). */
const INITIAL_PEER_WINDOW = 262144;

interface StreamState {
  numWritten: number;
  peerConsumed: number;
  peerWindow: number;
  numRead: number;
  incr: number;
  /** v2: data waiting for window, oldest first. */
  queue: Buffer[];
}

/**
 * The smux session protocol as a pure state machine: frames in, frames out, the clock
 * passed in. It mirrors xtaci/smux v1.5 (what Debian's kcptun runs): stream ids, SYN
 * / PSH / FIN, v2 per-stream windows (UPD after the first read and after every half
 * window consumed), NOP keepalive and the receive-timeout check. Sockets, streams
 * and timers belong to the layer that wires it up.
 */
export class SmuxSession {
  readonly version: SmuxVersion;
  private readonly handler: SmuxSessionHandler;
  private readonly parser: SmuxParser;
  private readonly streams = new Map<number, StreamState>();
  private readonly interval: number;
  private readonly timeout: number;
  private readonly maxFrame: number;
  private readonly maxReceive: number;
  private readonly maxStream: number;
  private nextId: number;
  private nextPing: number;
  private nextCheck: number;
  private dataReady = false;
  private buffered = 0;
  private dead = false;

  constructor(options: SmuxSessionOptions, handler: SmuxSessionHandler) {
    this.version = options.version;
    this.handler = handler;
    this.parser = new SmuxParser({ version: options.version });
    this.interval = options.keepAliveInterval ?? 10_000;
    this.timeout = Math.max(options.keepAliveTimeout ?? 30_000, this.interval);
    this.maxFrame = options.maxFrameSize ?? 32768;
    this.maxReceive = options.maxReceiveBuffer ?? 4194304;
    this.maxStream = options.maxStreamBuffer ?? 65536;
    this.nextId = options.client ? 1 : 0;
    this.nextPing = options.now + this.interval;
    this.nextCheck = options.now + this.timeout;
  }

  get isClosed(): boolean {
    return this.dead;
  }

  /** Bytes delivered by data() and not yet reported by consumed(). */
  get receiveBuffered(): number {
    return this.buffered;
  }

  /** False while the application holds maxReceiveBuffer unconsumed bytes: stop reading. */
  get wantsInput(): boolean {
    return !this.dead && this.buffered < this.maxReceive;
  }

  /** Opens a stream (SYN) and returns its id. */
  openStream(): number {
    this.assertOpen();
    this.nextId += 2;
    const sid = this.nextId >>> 0;
    this.streams.set(sid, newStream());
    this.handler.output(encodeControl(this.version, CMD_SYN, sid));
    return sid;
  }

  /**
   * Sends data on a stream. v1 (and v2 within the peer's window) writes it at once and
   * returns true; v2 beyond the window queues the rest and returns false, and
   * writable(sid) follows when the peer's UPD has let all of it out.
   */
  write(sid: number, data: Uint8Array): boolean {
    this.assertOpen();
    const s = this.streams.get(sid);
    if (s === undefined) return false;
    if (data.length === 0) return s.queue.length === 0;
    if (this.version === 1) {
      this.handler.output(encodePush(1, sid, data, this.maxFrame));
      return true;
    }
    s.queue.push(Buffer.from(data));
    return this.flushStream(sid, s);
  }

  /** Closes a stream: FIN, and the session forgets it (late frames for it are dropped). */
  closeStream(sid: number): void {
    if (this.dead || !this.streams.delete(sid)) return;
    this.handler.output(encodeControl(this.version, CMD_FIN, sid));
  }

  /** The application took `n` bytes of `sid`: returns session tokens; v2 may send UPD. */
  consumed(sid: number, n: number): void {
    this.buffered = Math.max(0, this.buffered - n);
    const s = this.streams.get(sid);
    if (this.dead || s === undefined || this.version === 1 || n <= 0) return;
    s.numRead = (s.numRead + n) >>> 0;
    s.incr += n;
    // smux: report the first read at once, then every half window.
    if (s.incr >= this.maxStream / 2 || s.numRead === n) {
      s.incr = 0;
      this.handler.output(encodeUpdate(sid, s.numRead, this.maxStream));
    }
  }

  /** Feeds bytes read from the underlying connection. A protocol error closes the session. */
  input(bytes: Uint8Array, now: number): void {
    if (this.dead) return;
    if (bytes.length > 0) this.dataReady = true;
    try {
      this.parser.push(bytes, (f) => this.frame(f));
    } catch (err) {
      if (err instanceof SmuxError) this.close(err);
      else throw err;
    }
    this.tick(now);
  }

  /** Runs keepalive: a NOP when due, and death when nothing arrived in a timeout period. */
  tick(now: number): void {
    if (this.dead || this.interval <= 0) return;
    if (now >= this.nextPing) {
      this.handler.output(encodeControl(this.version, CMD_NOP, 0));
      this.nextPing = now + this.interval;
    }
    if (now >= this.nextCheck) {
      if (!this.dataReady) {
        this.close(
          new SmuxError('ERR_SMUX_KEEPALIVE_TIMEOUT', `nothing received in ${this.timeout} ms`),
        );
        return;
      }
      this.dataReady = false;
      this.nextCheck = now + this.timeout;
    }
  }

  /** When tick() next has work (ms, on the caller's clock); Infinity when never. */
  nextTimeout(): number {
    if (this.dead || this.interval <= 0) return Number.POSITIVE_INFINITY;
    return Math.min(this.nextPing, this.nextCheck);
  }

  /** Ends the session (err null: a local, orderly close). */
  close(err: SmuxError | null = null): void {
    if (this.dead) return;
    this.dead = true;
    this.streams.clear();
    this.handler.closed(err);
  }

  private frame(f: SmuxFrame): void {
    if (this.dead) return;
    switch (f.cmd) {
      case CMD_NOP:
        return;
      case CMD_SYN:
        if (!this.streams.has(f.sid)) {
          this.streams.set(f.sid, newStream());
          this.handler.accept(f.sid);
        }
        return;
      case CMD_FIN:
        if (this.streams.has(f.sid)) this.handler.fin(f.sid);
        return;
      case CMD_PSH:
        // smux drops data for streams it does not know (e.g. closed locally).
        if (f.data.length > 0 && this.streams.has(f.sid)) {
          this.buffered += f.data.length;
          this.handler.data(f.sid, f.data);
        }
        return;
      case CMD_UPD: {
        const s = this.streams.get(f.sid);
        if (s === undefined) return;
        // smux finds this at its next write (ErrConsumed); a peer that lies about what
        // it consumed would let us overrun its buffer, so it ends the session now.
        if (((s.numWritten - f.consumed) | 0) < 0) {
          this.close(
            new SmuxError('ERR_SMUX_FLOW_CONTROL', `stream ${f.sid}: peer consumed more than sent`),
          );
          return;
        }
        s.peerConsumed = f.consumed;
        s.peerWindow = f.window;
        if (s.queue.length > 0 && this.flushStream(f.sid, s)) this.handler.writable(f.sid);
      }
    }
  }

  /** v2: sends as much queued data as the peer's window allows; true when the queue is empty. */
  private flushStream(sid: number, s: StreamState): boolean {
    // uint32 arithmetic, as smux: a wrapped counter still gives the right distance.
    const inflight = (s.numWritten - s.peerConsumed) | 0;
    if (inflight < 0) {
      this.close(
        new SmuxError('ERR_SMUX_FLOW_CONTROL', `stream ${sid}: peer consumed more than sent`),
      );
      return false;
    }
    let win = s.peerWindow - inflight;
    while (win > 0 && s.queue.length > 0) {
      const head = s.queue[0] as Buffer;
      const n = Math.min(win, head.length);
      this.handler.output(encodePush(2, sid, head.subarray(0, n), this.maxFrame));
      s.numWritten = (s.numWritten + n) >>> 0;
      win -= n;
      if (n === head.length) s.queue.shift();
      else s.queue[0] = head.subarray(n);
    }
    return s.queue.length === 0;
  }

  private assertOpen(): void {
    if (this.dead) throw new SmuxError('ERR_SMUX_CLOSED', 'session is closed');
  }
}

function newStream(): StreamState {
  return {
    numWritten: 0,
    peerConsumed: 0,
    peerWindow: INITIAL_PEER_WINDOW,
    numRead: 0,
    incr: 0,
    queue: [],
  };
}
