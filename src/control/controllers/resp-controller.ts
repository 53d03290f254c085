import { EventEmitter } from 'node:events';
import { type Address, formatHostPort, toAddress } from '../../fd/address.js';
import { isVproxyError, VproxyError } from '../../fd/errors.js';
import type { Registry } from '../../fd/registry.js';
import type { BoundAddress, ServerFD } from '../../fd/server-fd.js';
import type { StreamFD } from '../../fd/stream-fd.js';
import { RespReader } from '../../protocols/resp/reader.js';
import { encodeResp, type RespValue } from '../../protocols/resp/writer.js';
import type { CommandExecutor, CommandResult } from '../executor.js';
import { Secret } from '../secret.js';

export interface RespControllerOptions {
  readonly name: string;
  readonly address: string | Address;
  readonly password: string;
  readonly executor: CommandExecutor;
  readonly registry: Registry;
}

export interface RespControllerStats {
  readonly connections: number;
  readonly commands: number;
  readonly authFailures: number;
  readonly protocolErrors: number;
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
 */
export class RespController extends EventEmitter<{ error: [Error] }> {
  readonly name: string;
  readonly #secret: Secret;
  readonly #executor: CommandExecutor;
  readonly #server: ServerFD;
  readonly #clients = new Set<StreamFD>();
  readonly #stats = { connections: 0, commands: 0, authFailures: 0, protocolErrors: 0 };

  private constructor(options: RespControllerOptions, server: ServerFD) {
    super();
    this.name = options.name;
    this.#secret = new Secret(options.password);
    this.#executor = options.executor;
    this.#server = server;
    server.on('connection', (fd) => this.#serve(fd));
    server.on('error', (err) => this.emit('error', err));
    server.on('handshakeError', () => this.#stats.protocolErrors++);
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
    return { ...this.#stats };
  }

  async close(): Promise<void> {
    await this.#server.close();
    for (const c of this.#clients) c.destroy();
  }

  #serve(fd: StreamFD): void {
    this.#stats.connections++;
    this.#clients.add(fd);
    fd.on('close', () => this.#clients.delete(fd));
    fd.on('error', () => {});
    fd.setTimeout(15 * 60_000, () => fd.destroy());
    const reader = new RespReader();
    let authed = false;
    // Requests are answered strictly in order, even though commands are async.
    let queue: Promise<void> = Promise.resolve();
    fd.on('data', (chunk: Buffer) => {
      let requests: string[][];
      try {
        requests = reader.push(chunk);
      } catch (err) {
        this.#stats.protocolErrors++;
        fd.end(encodeResp({ error: `ERR ${(err as Error).message}` }));
        return;
      }
      for (const args of requests) {
        queue = queue.then(async () => {
          const reply = await this.#answer(args, authed, () => {
            authed = true;
          });
          if (!fd.destroyed) fd.write(encodeResp(reply));
        });
      }
    });
    fd.resume();
  }

  async #answer(args: string[], authed: boolean, grant: () => void): Promise<RespValue> {
    if (args.length === 0) return { error: 'ERR empty command' };
    const verb = (args[0] ?? '').toLowerCase();
    if (verb === 'auth') {
      // AUTH password, or AUTH default password (redis 6 ACL form, as redis-cli --user sends).
      const password =
        args.length === 2
          ? args[1]
          : args.length === 3 && args[1] === 'default'
            ? args[2]
            : undefined;
      if (password !== undefined && this.#secret.matches(password)) {
        grant();
        return { status: 'OK' };
      }
      this.#stats.authFailures++;
      return { error: 'WRONGPASS invalid password' };
    }
    if (!authed) return { error: 'NOAUTH Authentication required.' };
    if (verb === 'ping') return args.length > 1 ? (args[1] ?? '') : { status: 'PONG' };
    if (verb === 'command') return args.length > 1 && args[1]?.toLowerCase() === 'count' ? 0 : [];
    if (args.some((a) => /[\r\n]/.test(a)))
      return { error: 'ERR a command may not contain line breaks' };
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
