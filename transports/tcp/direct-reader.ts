import { type OnReadOpts, type Server, Socket, type SocketConstructorOpts } from 'node:net';
import { getSystemErrorName } from 'node:util';
import {
  attachDirectReadable,
  type DirectReadable,
  type DirectSink,
} from '../../src/fd/direct-read.js';
import type { NullProto } from '../../src/fd/null-proto.js';

/** Smallest read buffer: an idle connection holds no more than this per direction. */
export const MIN_READ_BUFFER = 4096;
/** Largest read buffer: a bulk stream reads this much per syscall (Node's own reads are 64 KiB). */
export const MAX_READ_BUFFER = 262_144;

/**
 * The smallest read buffers of closed sockets, for new sockets to read into.
 * A fresh buffer per socket costs far more than the syscalls it saves on a
 * short connection: its allocation, the kernel faulting in its new pages as
 * the first read lands, and its sweep on V8's background threads. A buffer is
 * spared only when nothing but its closed socket refers to it (a chunk a sink
 * retained went to a write queue, and its socket read into new memory next).
 */
const spareBuffers: Buffer[] = [];
/** At most this many spare (1 MiB): enough for the churn of short connections. */
const MAX_SPARE_BUFFERS = 256;

function smallestReadBuffer(): Buffer {
  return spareBuffers.pop() ?? Buffer.allocUnsafe(MIN_READ_BUFFER);
}

/**
 * Reads of one TCP socket, through net's `onread` mode: the kernel copies into
 * a buffer this reader owns and reuses, instead of Node allocating 64 KiB per
 * read and pushing it through the Readable machinery. The buffer grows (×4, to
 * 256 KiB) while reads fill it and shrinks to fit a read that did not, so bulk
 * streams make few large syscalls and a connection that went quiet after small
 * reads holds 4 KiB.
 *
 * Without a sink the socket behaves as any Duplex (each read is copied into a
 * right-sized chunk and pushed), so handshakes, TLS, WebSocket and the health
 * checker use it unchanged; the proxy's pump installs a sink to forward reads
 * without that copy.
 */
export class DirectReader implements DirectReadable {
  readonly onread: OnReadOpts;
  #socket: Socket | null = null;
  #buffer = smallestReadBuffer();
  #sink: DirectSink | null = null;
  #retained = false;

  constructor() {
    this.onread = {
      buffer: () => this.#buffer,
      callback: (n, buf) => this.#read(n, buf as Buffer),
    };
  }

  /** The socket whose `onread` option this reader is; before its first read. */
  attach(socket: Socket): void {
    this.#socket = socket;
    attachDirectReadable(socket, this);
    // Closed: its handle reads no more, so the buffer it would have read into is free.
    socket.once('close', () => this.#spare());
  }

  setDirectSink(sink: DirectSink | null): void {
    this.#sink = sink;
  }

  retainReadBuffer(): void {
    this.#retained = true;
  }

  #spare(): void {
    const buffer = this.#buffer;
    // #next() leaves #retained false and #buffer unreferenced after every read.
    if (this.#retained || buffer.length !== MIN_READ_BUFFER) return;
    if (spareBuffers.length < MAX_SPARE_BUFFERS) spareBuffers.push(buffer);
  }

  #read(n: number, buf: Buffer): boolean {
    const chunk = buf.subarray(0, n);
    let more: boolean;
    if (this.#sink !== null) more = this.#sink(chunk);
    else more = this.#socket?.push(Buffer.from(chunk)) ?? false;
    this.#next(n, buf.length);
    return more;
  }

  /**
   * Pick the buffer for the next read (Node asks `onread.buffer` right after the
   * callback): four times larger after a read that filled it, else the smallest
   * size that held this read. A socket keeps its buffer while idle, so it should
   * be the size of what it last read: a keep-alive connection that once carried
   * a large response drops back at its next small read.
   */
  #next(n: number, size: number): void {
    let want = size;
    if (n === size) {
      if (size < MAX_READ_BUFFER) want = size * 4;
    } else {
      want = MIN_READ_BUFFER;
      while (want < n) want *= 4;
    }
    if (want !== size || this.#retained) {
      this.#buffer = want === MIN_READ_BUFFER ? smallestReadBuffer() : Buffer.allocUnsafe(want);
      this.#retained = false;
    }
  }
}

/** net.Socket's constructor options that Node has and @types/node does not declare. */
interface HandleOptions extends SocketConstructorOpts, NullProto {
  readonly handle: AcceptedHandle;
  readonly pauseOnCreate: boolean;
  readonly onread: OnReadOpts;
}

/** The parts of Node's TCP handle (tcp_wrap) that accepting touches. */
interface AcceptedHandle {
  setNoDelay(on: boolean): void;
  setKeepAlive(on: boolean, delaySeconds: number): void;
}

interface ListenHandle {
  onconnection: (err: number, client: AcceptedHandle | undefined) => void;
}

export interface AcceptOptions {
  readonly noDelay: boolean;
  readonly keepAliveSeconds: number;
}

/**
 * Make a listening net.Server hand every accepted connection to `onSocket` as a
 * socket with a DirectReader. net.Server has no `onread` option for accepted
 * sockets and a socket gets its reader only at construction, so this takes
 * over the listen handle's accept callback (`_handle.onconnection`, what
 * net.Server itself installs) and builds the one socket per connection itself:
 * paused (as pauseOnConnect: nothing is read before the owner wires it up),
 * half-open allowed, not counted by net.Server (whose close() we never wait on).
 * `_handle` is undocumented but has not changed in any Node release; should it
 * be missing, this returns false and the caller takes net.Server's sockets as
 * they are (without direct reads).
 */
export function acceptWithDirectReads(
  server: Server,
  options: AcceptOptions,
  onSocket: (socket: Socket) => void,
): boolean {
  const handle = (server as unknown as { _handle?: ListenHandle | null })._handle;
  if (handle === null || handle === undefined || typeof handle.onconnection !== 'function') {
    return false;
  }
  handle.onconnection = (err, client) => {
    if (err !== 0 || client === undefined) {
      const name = err !== 0 ? getSystemErrorName(err) : 'no handle';
      const error = Object.assign(new Error(`accept failed: ${name}`), { code: name });
      server.emit('error', error);
      return;
    }
    if (options.noDelay) client.setNoDelay(true);
    if (options.keepAliveSeconds > 0) client.setKeepAlive(true, options.keepAliveSeconds);
    const reader = new DirectReader();
    const socketOptions: HandleOptions = {
      __proto__: null,
      handle: client,
      allowHalfOpen: true,
      readable: true,
      writable: true,
      pauseOnCreate: true,
      onread: reader.onread,
    };
    const socket = new Socket(socketOptions);
    reader.attach(socket);
    onSocket(socket);
  };
  return true;
}
