import { EventEmitter } from 'node:events';
import { type Address, formatHostPort, toAddress } from '../../fd/address.js';
import { isVproxyError, VproxyError } from '../../fd/errors.js';
import type { Registry } from '../../fd/registry.js';
import type { BoundAddress, ServerFD } from '../../fd/server-fd.js';
import type { StreamFD } from '../../fd/stream-fd.js';
import { RespReader } from '../../protocols/resp/reader.js';
import { encodeResp, type RespValue } from '../../protocols/resp/writer.js';
import type { CommandExecutor, CommandResult } from '../executor.js';
import { exportControllerMetrics } from '../observability/metrics.js';
import { Secret } from '../secret.js';
import { AuthThrottle } from './auth-throttle.js';
import {
  ClientDeadline,
  DEFAULT_MAX_CLIENTS,
  type RefusalCounts,
  type RefusalReason,
  zeroRefusals,
} from './connection-guard.js';

export interface RespControllerOptions {
  readonly name: string;
  readonly address: string | Address;
  readonly password: string;
  readonly executor: CommandExecutor;
  readonly registry: Registry;
  /** Time a new client has to authenticate (default 10 s, as socks5/ws handshakes). */
  readonly authTimeoutMs?: number;
  /** An authenticated client silent this long is closed (default 15 min). */
  readonly idleTimeoutMs?: number;
  /** A client that leaves its replies unread this long is closed (default 30 s). */
  readonly writeStallMs?: number;
  /** Unflushed reply bytes past which a client's requests are not read (default 64 KiB). */
  readonly maxUnflushedBytes?: number;
  /** Clients served at once; more are closed on accept (default 256). */
  readonly maxClients?: number;
  /** Failed-AUTH limiter per client address (default: one of this controller's own). */
  readonly throttle?: AuthThrottle;
}

export interface RespControllerStats {
  readonly connections: number;
  /** Clients connected now. */
  readonly clients: number;
  readonly commands: number;
  readonly authFailures: number;
  /** AUTH attempts refused unchecked because the address failed too often. */
  readonly authThrottled: number;
  readonly protocolErrors: number;
  readonly refused: RefusalCounts;
}

/** How long a client may take to read our last reply and close after we end. */
const LINGER_MS = 5_000;

/** What answering one request produced, and whether the connection ends after it. */
interface Answer {
  readonly reply: RespValue;
  readonly close?: boolean;
}

function render(result: CommandResult): RespValue {
  switch (result.kind) {
    case 'done':
      return { status: 'OK' };
    case 'number':
      return result.value;
    case 'text':
      return result.text;
    case 'lines':
      return result.lines;
    case 'list':
      return result.items;
  }
}

/**
 * The RESP (redis protocol) controller: `redis-cli -p PORT -a PASSWORD` runs
 * any command. Every connection starts unauthenticated; AUTH is checked against
 * a SHA-512 digest in constant time. `help` is trapped by redis-cli, so `man`
 * is the way to read the manual here.
 *
 * The port defends itself: a client has `authTimeoutMs` to authenticate, then
 * an idle timeout; requests are parsed and answered one at a time, and reading
 * stops while more than `maxUnflushedBytes` of replies wait to be flushed, so
 * a client that pipelines without reading costs one socket's buffers; the
 * client's FIN is answered by flushing what it asked for and closing; failed
 * AUTHs are rate-limited per address.
 */
export class RespController extends EventEmitter<{ error: [Error] }> {
  readonly name: string;
  readonly #secret: Secret;
  readonly #executor: CommandExecutor;
  readonly #server: ServerFD;
  readonly #throttle: AuthThrottle;
  readonly #limits: {
    auth: number;
    idle: number;
    stall: number;
    unflushed: number;
    clients: number;
  };
  readonly #clients = new Set<StreamFD>();
  readonly #stats = {
    connections: 0,
    commands: 0,
    authFailures: 0,
    authThrottled: 0,
    protocolErrors: 0,
  };
  readonly #refused = zeroRefusals();
  readonly #unexport: () => void;

  private constructor(options: RespControllerOptions, server: ServerFD) {
    super();
    this.name = options.name;
    this.#secret = new Secret(options.password);
    this.#executor = options.executor;
    this.#server = server;
    this.#throttle = options.throttle ?? new AuthThrottle();
    this.#limits = {
      auth: options.authTimeoutMs ?? 10_000,
      idle: options.idleTimeoutMs ?? 15 * 60_000,
      stall: options.writeStallMs ?? 30_000,
      unflushed: options.maxUnflushedBytes ?? 64 * 1024,
      clients: options.maxClients ?? DEFAULT_MAX_CLIENTS,
    };
    server.on('connection', (fd) => this.#serve(fd));
    server.on('error', (err) => this.emit('error', err));
    server.on('handshakeError', () => this.#refuse('protocolError'));
    this.#unexport = exportControllerMetrics(options.registry, {
      kind: 'resp-controller',
      name: this.name,
      counters: () => this.stats(),
    });
  }

  static async start(options: RespControllerOptions): Promise<RespController> {
    if (options.password.length === 0) {
      throw new VproxyError(
        'ERR_OPTION_INVALID',
        `resp-controller ${options.name}: a password is required`,
      );
    }
    const server = await options.registry.listen(toAddress(options.address));
    return new RespController(options, server);
  }

  address(): BoundAddress {
    return this.#server.address();
  }

  /** The list-detail line: `name -> host:port`. */
  describe(): string {
    const a = this.address();
    return `${this.name} -> ${formatHostPort(a.host, a.port)}`;
  }

  stats(): RespControllerStats {
    return { ...this.#stats, clients: this.#clients.size, refused: { ...this.#refused } };
  }

  async close(): Promise<void> {
    this.#unexport();
    await this.#server.close();
    for (const c of this.#clients) c.destroy();
  }

  #refuse(reason: RefusalReason): void {
    this.#refused[reason]++;
    if (reason === 'protocolError') this.#stats.protocolErrors++;
  }

  #serve(fd: StreamFD): void {
    this.#stats.connections++;
    if (this.#clients.size >= this.#limits.clients) {
      this.#refuse('tooManyClients');
      fd.on('error', () => {});
      fd.destroy();
      return;
    }
    this.#clients.add(fd);
    fd.on('close', () => this.#clients.delete(fd));
    fd.on('error', () => {});
    const limits = this.#limits;
    // Before AUTH the deadline is absolute: wrong guesses do not extend it.
    const deadline = new ClientDeadline(fd, (reason) => {
      this.#refuse(reason);
      return true;
    });
    deadline.set(limits.auth, 'handshakeTimeout');
    const reader = new RespReader();
    const session = { authed: false, peer: fd.remoteAddress };
    let ended = false;
    let busy = false;

    // Our last word: flush and send FIN, then keep reading (and discarding)
    // so the client's FIN closes the socket; one that neither reads its
    // replies nor closes is destroyed after the linger time.
    const finish = (last?: Buffer) => {
      fd.end(last);
      deadline.set(LINGER_MS, 'writeStall');
      fd.resume();
    };

    // One loop per client answers its requests strictly in order, one at a
    // time; it reads more only when every buffered request is answered and
    // the replies are (mostly) flushed.
    const pump = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      try {
        for (;;) {
          if (fd.destroyed || fd.writableEnded) return;
          if (fd.writableLength > limits.unflushed) {
            // 'drain' calls pump again; a client that never reads is closed.
            if (session.authed) deadline.set(limits.stall, 'writeStall');
            return;
          }
          let args: string[] | null;
          try {
            args = reader.next();
          } catch (err) {
            this.#refuse('protocolError');
            finish(encodeResp({ error: `ERR ${(err as Error).message}` }));
            return;
          }
          if (args === null) break;
          const wasAuthed = session.authed;
          const answer = await this.#answer(args, session);
          if (fd.destroyed) return;
          if (!wasAuthed && session.authed) deadline.set(limits.idle, 'idleTimeout');
          if (answer.close) {
            finish(encodeResp(answer.reply));
            return;
          }
          fd.write(encodeResp(answer.reply));
        }
        // Everything the client sent is answered: after its FIN, close once
        // the replies are flushed (end() flushes first); otherwise read on.
        if (ended) finish();
        else fd.resume();
      } finally {
        busy = false;
      }
    };
    const run = () => {
      pump().catch((err: unknown) => {
        this.emit('error', err as Error);
        fd.destroy();
      });
    };

    fd.on('data', (chunk: Buffer) => {
      if (fd.writableEnded) return;
      fd.pause();
      if (session.authed) deadline.set(limits.idle, 'idleTimeout');
      reader.feed(chunk);
      run();
    });
    fd.on('drain', () => {
      if (fd.writableEnded) return;
      if (session.authed) deadline.set(limits.idle, 'idleTimeout');
      run();
    });
    // Accepted half-open: the client's FIN must be answered by us, or the
    // socket would sit in CLOSE-WAIT until a timer noticed.
    fd.on('end', () => {
      ended = true;
      run();
    });
    fd.resume();
  }

  async #answer(
    args: string[],
    session: { authed: boolean; readonly peer: string | undefined },
  ): Promise<Answer> {
    if (args.length === 0) return { reply: { error: 'ERR empty command' } };
    const verb = (args[0] ?? '').toLowerCase();
    // Redis answers QUIT without AUTH too: a polite client may always leave.
    if (verb === 'quit') return { reply: { status: 'OK' }, close: true };
    if (verb === 'auth') return { reply: this.#auth(args, session) };
    if (!session.authed) return { reply: { error: 'NOAUTH Authentication required.' } };
    return { reply: await this.#command(args, verb) };
  }

  #auth(
    args: string[],
    session: { authed: boolean; readonly peer: string | undefined },
  ): RespValue {
    // While throttled the password is not even checked: that is what makes
    // the limit a bound on guesses rather than on wrong answers.
    if (!this.#throttle.allows(session.peer)) {
      this.#stats.authThrottled++;
      this.#refuse('authThrottled');
      const s = Math.ceil(this.#throttle.retryAfterMs(session.peer) / 1000);
      return { error: `ERR too many failed AUTH attempts from your address; retry in ${s} s` };
    }
    // AUTH password, or AUTH default password (redis 6 ACL form, as redis-cli --user sends).
    const password =
      args.length === 2
        ? args[1]
        : args.length === 3 && args[1] === 'default'
          ? args[2]
          : undefined;
    if (password !== undefined && this.#secret.matches(password)) {
      session.authed = true;
      return { status: 'OK' };
    }
    this.#throttle.fail(session.peer);
    this.#stats.authFailures++;
    return { error: 'WRONGPASS invalid password' };
  }

  async #command(args: string[], verb: string): Promise<RespValue> {
    if (verb === 'ping') return args.length > 1 ? (args[1] ?? '') : { status: 'PONG' };
    if (verb === 'command') return args.length > 1 && args[1]?.toLowerCase() === 'count' ? 0 : [];
    if (args.some((a) => /[\r\n]/.test(a)))
      return { error: 'ERR a command may not contain line breaks' };
    // Each RESP argument is one word of the command: joined with spaces, a space
    // inside one would make it several (`"1.2.3.4:80 upstream other"` as an address).
    // A lone argument is the whole line (`redis-cli "list upstream"`), as before.
    if (args.length > 1 && args.some((a) => a.length === 0 || /\s/.test(a)))
      return {
        error:
          'ERR each argument is one word: the command language has no quoting, so a value cannot be empty or contain spaces',
      };
    this.#stats.commands++;
    try {
      return render(await this.#executor.execute(args.join(' '), 'resp'));
    } catch (err) {
      if (isVproxyError(err)) return { error: `ERR ${err.message}` };
      this.emit('error', err as Error);
      return { error: 'ERR internal error' };
    }
  }
}
