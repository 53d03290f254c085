import { readFile, writeFile } from 'node:fs/promises';
import { isVproxyError, VproxyError } from '../fd/errors.js';
import type { Logger } from '../fd/logger.js';
import { manLines } from './command/help.js';
import { type Command, parseCommand, type ResourceRef, redactSecrets } from './command/parse.js';
import {
  checkLoadable,
  configLines,
  maskAddressSecrets,
  maskSecrets,
  readConfigFile,
  refuseIfUsed,
  VERSION,
  writeConfigFile,
} from './config.js';
import { type ControllerDetail, detailList, mapDetailStrings } from './details/records.js';
import { ControlError } from './errors.js';
import type { CommandExecutor, CommandResult, Origin } from './executor.js';
import { HANDLERS } from './handlers/index.js';
import { inspectListener } from './handlers/listeners.js';
import { unsupportedAction } from './handlers/unsupported.js';
import { applyReload, planReload, type StepOutcome } from './reload.js';
import { DEFAULT_ELGS, mustGet, type ResourceStore } from './store.js';

export type ControllerKind = 'resp-controller' | 'http-controller';

/** What the daemon provides to system commands: controllers and shutdown. */
export interface SystemHooks {
  /**
   * Start a controller; the answer never contains a secret the caller did not
   * give. `origin` is who asked: one asked for over the network (resp, http)
   * must listen on loopback only, whatever its secret.
   */
  addController(
    kind: ControllerKind,
    name: string,
    address: string,
    secret: string | undefined,
    origin: Origin,
  ): Promise<string>;
  removeController(kind: ControllerKind, name: string): Promise<void>;
  /** The running controllers of a kind: name and `host:port`. */
  listControllers(kind: ControllerKind): ControllerDetail[];
  shutdown(): void;
}

export interface ExecutorOptions {
  readonly store: ResourceStore;
  readonly system?: SystemHooks;
  /** Let RESP / HTTP run save and load (off by default: they touch the file system). */
  readonly allowRemoteFileCommands?: boolean;
  /** Changes (info, secrets redacted), refusals (debug) and unexpected failures (error). */
  readonly logger?: Logger;
}

const DONE: CommandResult = { kind: 'done' };

/** First words of the commands that change state (and save/load, which touch files). */
const CHANGES: ReadonlySet<string> = new Set([
  'add',
  'a',
  'update',
  'u',
  'remove',
  'r',
  'force-remove',
  'R',
  'load',
  'save',
  'shutdown',
]);

/** An unexpected error as log fields: its message, and the OS code of it or its cause. */
function causeOf(err: unknown): Record<string, string | undefined> {
  if (!(err instanceof Error)) return { error: String(err) };
  const cause = err.cause instanceof Error ? err.cause : undefined;
  const code = (err as NodeJS.ErrnoException).code ?? (cause as NodeJS.ErrnoException)?.code;
  return { error: err.message, code, cause: cause?.message };
}

/** Commands that read nothing the workers hold. */
const ADDS: ReadonlySet<string> = new Set(['add', 'a', 'update', 'u']);

function forbidden(message: string): never {
  throw new ControlError('ERR_FORBIDDEN', message);
}

/**
 * Runs command lines against the resource store. Commands run one at a time
 * (a queue), so concurrent controllers never interleave half-applied changes.
 */
export class StoreExecutor implements CommandExecutor {
  readonly #options: ExecutorOptions;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: ExecutorOptions) {
    this.#options = options;
  }

  execute(line: string, origin: Origin): Promise<CommandResult> {
    const trimmed = line.trim();
    const run = this.#queue.then(() => this.#runWithWorkers(trimmed, origin));
    this.#queue = run.catch(() => {});
    const log = this.#options.logger;
    if (log === undefined) return run.catch((err: unknown) => this.#named(err));
    return run.then(
      (result) => {
        // Every change of state is logged (what, from where); reads are not.
        if (CHANGES.has(trimmed.split(' ')[0] ?? ''))
          log.info('command', { origin, command: redactSecrets(trimmed) });
        return result;
      },
      (err: unknown) => {
        // The user got the message; an unexpected failure also needs its cause here.
        if (isVproxyError(err))
          log.debug('command-refused', {
            origin,
            command: redactSecrets(trimmed),
            code: err.code,
            error: err.message,
          });
        else
          log.error('command-failed', { origin, command: redactSecrets(trimmed), ...causeOf(err) });
        return this.#named(err);
      },
    );
  }

  /**
   * With worker processes: a read (or a kill) sees the workers' counters and
   * sessions as they are now, and a change is applied in every worker before
   * its answer.
   */
  async #runWithWorkers(line: string, origin: Origin): Promise<CommandResult> {
    const workers = this.#options.store.workers;
    if (workers === undefined) return this.#run(line, origin);
    const first = line.split(' ')[0] ?? '';
    if (!ADDS.has(first)) await workers.refresh();
    try {
      return await this.#run(line, origin);
    } finally {
      if (CHANGES.has(first)) await workers.sync();
    }
  }

  /**
   * A failure nobody foresaw still names its cause to the user (`internal
   * error: EMFILE: too many open files`), instead of a bare "internal error"
   * with the cause only on the daemon's stderr.
   */
  #named(err: unknown): never {
    if (isVproxyError(err)) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw new ControlError('ERR_INTERNAL', `internal error: ${message}`, { cause: err });
  }

  /**
   * SIGHUP: apply a config file as a diff against the running state (see
   * planReload); unchanged resources are not touched. Runs in the command
   * queue, so no command interleaves with it.
   */
  reload(file: string): Promise<StepOutcome[]> {
    const run = this.#queue.then(async () => {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        throw new VproxyError('ERR_NOT_FOUND', `cannot read ${file}: ${(err as Error).message}`, {
          cause: err,
        });
      }
      const steps = planReload(configLines(this.#options.store), text.split('\n'), file);
      return applyReload(steps, (line) => this.#run(line, 'stdio'));
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Load a config file: every line parses before any runs; the first failure stops it. */
  async load(file: string): Promise<number> {
    const commands = await readConfigFile(file);
    for (const cmd of commands) await this.#apply(cmd);
    return commands.length;
  }

  /**
   * Write the config, but only one that loads: it is replayed against names
   * first (checkLoadable). A config that would not load is refused and the
   * previous file kept; its text goes to FILE.rejected so no change is lost.
   */
  async save(file: string): Promise<void> {
    const lines = configLines(this.#options.store);
    try {
      checkLoadable(lines, file);
    } catch (err) {
      await writeFile(`${file}.rejected`, `${lines.join('\n')}\n`, { mode: 0o600 }).catch(() => {});
      throw new ControlError(
        'ERR_CONFIG_INVALID',
        `refusing to save ${file}: it would not load: ${(err as Error).message}` +
          ` (kept the previous file; this config is in ${file}.rejected)`,
        { cause: err },
      );
    }
    await writeConfigFile(file, lines);
  }

  async #run(line: string, origin: Origin): Promise<CommandResult> {
    const words = line.split(/ +/);
    const [first = '', second, third] = words;
    if (first === 'help' || first === 'h') return { kind: 'lines', lines: manLines() };
    if (first === 'man') return { kind: 'lines', lines: manLines(second, third) };
    if (first === 'version' && words.length === 1)
      return { kind: 'text', text: `vproxy-ts ${VERSION}` };
    if (line === 'list config') {
      // Over the network the passwords are masked; StdIO and saved files hold them.
      const lines = configLines(this.#options.store);
      return { kind: 'lines', lines: origin === 'stdio' ? lines : maskSecrets(lines) };
    }
    if (first === 'save' || first === 'load') return this.#fileCommand(first, words, origin);
    if (first === 'shutdown' && words.length === 1) {
      if (origin !== 'stdio') forbidden('you can only call shutdown via StdIOController');
      this.#system().shutdown();
      return { kind: 'text', text: 'bye' };
    }
    const result = await this.#apply(parseCommand(line), origin);
    // A listing read over the network shows no address key (kcp key=) the client did not send.
    if (origin === 'stdio' || result.kind !== 'list') return result;
    // list-detail: mask the records, so REST's objects and the text agree.
    if (result.details !== undefined) return mapDetailStrings(result.details, maskAddressSecrets);
    return {
      kind: 'list',
      items: result.items.map((i) =>
        typeof i === 'string' ? maskAddressSecrets(i) : i.map(maskAddressSecrets),
      ),
    };
  }

  async #fileCommand(
    verb: 'save' | 'load',
    words: string[],
    origin: Origin,
  ): Promise<CommandResult> {
    if (origin !== 'stdio' && !this.#options.allowRemoteFileCommands) {
      forbidden(
        `${verb} is only allowed via StdIOController (start with --allow-remote-file-commands)`,
      );
    }
    const file = words[1];
    if (file === undefined || words.length !== 2) {
      throw new ControlError('ERR_COMMAND_INVALID', `usage: ${verb} <file>`);
    }
    if (verb === 'save') {
      await this.save(file);
      return DONE;
    }
    return { kind: 'number', value: await this.load(file) };
  }

  /** resp-controller / http-controller: parsed by the model, run by the daemon's hooks. */
  async #controllerCommand(cmd: Command, origin: Origin): Promise<CommandResult> {
    const kind = cmd.type as ControllerKind;
    const system = this.#system();
    const name = cmd.name ?? '';
    switch (cmd.action) {
      case 'list':
        return { kind: 'list', items: system.listControllers(kind).map((c) => c.name) };
      case 'list-detail':
        return detailList(kind, system.listControllers(kind));
      case 'add': {
        const v = cmd.values;
        const secret = kind === 'resp-controller' ? v.password : v.token;
        const shown = await system.addController(kind, name, v.address ?? '', secret, origin);
        return { kind: 'text', text: shown };
      }
      case 'remove':
        await system.removeController(kind, name);
        return DONE;
      default:
        return unsupportedAction(cmd);
    }
  }

  #system(): SystemHooks {
    const system = this.#options.system;
    if (!system)
      throw new VproxyError('ERR_NOT_SUPPORTED', 'no daemon: system commands are not available');
    return system;
  }

  async #apply(cmd: Command, origin: Origin = 'stdio'): Promise<CommandResult> {
    const store = this.#options.store;
    const removes = cmd.action === 'remove' || cmd.action === 'force-remove';
    // One usage check for every kind (force-remove included): a resource that
    // others use stays. The default groups are refused by their own handler.
    if (removes && cmd.location.length === 0 && cmd.name !== undefined) {
      const isDefault = (DEFAULT_ELGS as readonly string[]).includes(cmd.name);
      if (!(cmd.type === 'event-loop-group' && isDefault)) refuseIfUsed(store, cmd.type, cmd.name);
    }
    const handler = HANDLERS[cmd.type];
    if (handler !== undefined) return handler(store, cmd);
    if (cmd.type === 'resp-controller' || cmd.type === 'http-controller')
      return this.#controllerCommand(cmd, origin);
    return this.#inspect(cmd);
  }

  #inspect(cmd: Command): CommandResult {
    const parent = cmd.location[0];
    if (
      parent?.type === 'server' &&
      (cmd.type === 'bytes-in' || cmd.type === 'bytes-out' || cmd.type === 'connection')
    ) {
      const stats = findServer(this.#options.store, parent.name, cmd.location[1]).stats();
      if (cmd.type === 'connection') return { kind: 'number', value: stats.activeConnections };
      return { kind: 'number', value: cmd.type === 'bytes-in' ? stats.bytesIn : stats.bytesOut };
    }
    return inspectListener(this.#options.store, cmd);
  }
}

/**
 * The server of `in server S [in server-group G]`: without the group, the one
 * server of that name in any group (several: the user must say which).
 */
function findServer(store: ResourceStore, name: string, groupRef: ResourceRef | undefined) {
  if (groupRef !== undefined) {
    const { group } = mustGet(store.serverGroups, 'server-group', groupRef.name);
    const server = group.get(name);
    if (!server)
      throw new VproxyError(
        'ERR_NOT_FOUND',
        `Cannot find server with name ${name} in server-group ${groupRef.name}.`,
      );
    return server;
  }
  const found = [...store.serverGroups.values()].flatMap(({ group }) => {
    const server = group.get(name);
    return server ? [{ server, group: group.name }] : [];
  });
  const [first] = found;
  if (first === undefined)
    throw new VproxyError('ERR_NOT_FOUND', `Cannot find server with name ${name}.`);
  if (found.length > 1) {
    throw new ControlError(
      'ERR_COMMAND_INVALID',
      `server ${name} is in several server-groups (${found.map((f) => f.group).join(', ')}):` +
        ' add in server-group <name>',
    );
  }
  return first.server;
}
