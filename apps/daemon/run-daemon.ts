import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  type ControllerKind,
  StoreExecutor,
  type SystemHooks,
} from '../../src/control/command-executor.js';
import { VERSION } from '../../src/control/config.js';
import { HttpController, type PageHandler } from '../../src/control/controllers/http-controller.js';
import { RespController } from '../../src/control/controllers/resp-controller.js';
import { StdioController } from '../../src/control/controllers/stdio-controller.js';
import { drainListeners } from '../../src/control/drain.js';
import { ControlError } from '../../src/control/errors.js';
import type { Origin } from '../../src/control/executor.js';
import { listening } from '../../src/control/listen-errors.js';
import type { StepOutcome } from '../../src/control/reload.js';
import { ResourceStore } from '../../src/control/store.js';
import { formatHostPort, parseAddress } from '../../src/fd/address.js';
import { VproxyError } from '../../src/fd/errors.js';
import { createLogger, type Logger } from '../../src/fd/logger.js';
import type { Registry } from '../../src/fd/registry.js';
import type { ServiceRegistry } from '../../src/mesh/registry.js';
import { bannerLine } from './banner.js';
import { controllerSecret, isLoopback } from './secrets.js';
import { useWorkers, type WorkerFlags } from './workers.js';

export interface DaemonOptions {
  readonly configDir: string;
  readonly load?: string;
  readonly loadLast: boolean;
  readonly save: boolean;
  readonly stdio: boolean;
  /** `off` disables the controller. */
  readonly respController: string;
  readonly respPassword?: string;
  readonly httpController: string;
  readonly httpToken?: string;
  readonly pidFile?: string;
  readonly allowRemoteFileCommands: boolean;
  readonly autoSaveMs: number;
  /** Extra pages of the HTTP controller (status page, metrics). */
  readonly pages?: (store: ResourceStore) => PageHandler;
  /** Lifecycle, changes and failures (default: warnings and errors to stderr). Created once by the CLI. */
  readonly logger?: Logger;
  /** Where the start-up banner goes (default: stdout). */
  readonly print?: (line: string) => void;
  /** The delegates' service registry (--etcd); default in-process. Closed (gracefully) on stop. */
  readonly mesh?: ServiceRegistry;
  /** Worker processes (apps/daemon/workers.ts); without, every loop is this process. */
  readonly workers?: WorkerFlags;
}

type Controller = RespController | HttpController;

/** Who asks for a controller: a command (stdio, resp, http) or the daemon's own flags. */
type ControllerOrigin = Origin | 'command-line';

/**
 * The vproxy daemon: a resource store, one executor, and the controllers over
 * it. The config is saved to `<config-dir>/last` hourly and on the way out, and
 * loaded from there at the next start. SIGHUP reloads it as a diff (reload),
 * SIGTERM drains (drain).
 */
export class Daemon {
  readonly store: ResourceStore;
  readonly executor: StoreExecutor;
  readonly #options: DaemonOptions;
  readonly #log: Logger;
  readonly #print: (line: string) => void;
  readonly #controllers = new Map<string, Controller>();
  readonly #lastFile: string;
  #autoSave: NodeJS.Timeout | undefined;
  #stdio: StdioController | undefined;
  #stopping: Promise<void> | undefined;

  constructor(registry: Registry, options: DaemonOptions) {
    this.#options = options;
    // Without a logger, failures (a refused save) still reach stderr.
    this.#log =
      options.logger ?? createLogger({ threshold: 'warn', write: (l) => console.error(l) });
    this.#print = options.print ?? ((line) => console.log(line));
    mkdirSync(options.configDir, { recursive: true, mode: 0o700 });
    this.#lastFile = join(options.configDir, 'last');
    this.store = new ResourceStore(registry, this.#log, options.mesh);
    if (options.workers !== undefined) useWorkers(this.store, options.workers, this.#log);
    this.executor = new StoreExecutor({
      store: this.store,
      system: this.#hooks(),
      allowRemoteFileCommands: options.allowRemoteFileCommands,
      logger: this.#log,
    });
  }

  /** The file SIGHUP reloads: `--load`'s, else the saved one. */
  get configFile(): string {
    // Absolute, so logs say which file and a reload reads the one loaded at start.
    return this.#options.load === undefined ? this.#lastFile : resolve(this.#options.load);
  }

  async start(): Promise<void> {
    const o = this.#options;
    const file =
      o.load !== undefined
        ? this.configFile
        : o.loadLast && existsSync(this.#lastFile)
          ? this.#lastFile
          : undefined;
    if (file !== undefined) {
      const n = await this.executor.load(file);
      this.#log.info('config-loaded', { file, commands: n });
      this.#print(`vproxy: loaded ${n} commands from ${file}`);
    }
    if (o.respController !== 'off') {
      this.#print(
        await this.#addController(
          'resp-controller',
          'resp-controller',
          o.respController,
          o.respPassword,
          'command-line',
        ),
      );
    }
    if (o.httpController !== 'off') {
      this.#print(
        await this.#addController(
          'http-controller',
          'http-controller',
          o.httpController,
          o.httpToken,
          'command-line',
        ),
      );
    }
    if (o.pidFile !== undefined) writeFileSync(o.pidFile, `${process.pid}\n`);
    if (o.save) {
      this.#autoSave = setInterval(() => void this.#saveLast(), o.autoSaveMs);
      this.#autoSave.unref();
    }
    this.#print(`vproxy-ts ${VERSION} started; ${this.#nextStep()} (pid ${process.pid})`);
    this.#log.info('daemon-started', {
      version: VERSION,
      pid: process.pid,
      configDir: o.configDir,
      save: o.save ? this.#lastFile : 'off',
    });
    if (o.stdio) {
      this.#stdio = new StdioController({
        executor: this.executor,
        input: process.stdin,
        output: process.stdout,
        names: () => this.#names(),
        color: process.stdout.isTTY === true,
      });
    }
  }

  /** The tail of the started line: where commands can be typed. */
  #nextStep(): string {
    if (this.#options.stdio) return 'type `help` for the command language';
    if (this.#controllers.has('resp-controller'))
      return 'type commands through redis-cli (above); `help` lists them';
    if (this.#controllers.has('http-controller'))
      return 'type commands through the HTTP API (above)';
    return 'no prompt and no controller: signals only';
  }

  /**
   * SIGHUP: apply the config file (`--load`'s, else the saved one) as a diff;
   * what did not change keeps running. Each change is logged; a failed step
   * is logged and the others still run.
   */
  async reload(): Promise<StepOutcome[]> {
    const file = this.configFile;
    this.#log.info('reload-started', { file });
    let outcomes: StepOutcome[];
    try {
      outcomes = await this.executor.reload(file);
    } catch (err) {
      this.#log.error('reload-failed', { file, error: (err as Error).message });
      throw err;
    }
    for (const o of outcomes) {
      if (o.error === undefined)
        this.#log.info('config-change', { change: o.kind, command: o.line });
      else
        this.#log.error('config-change-failed', {
          change: o.kind,
          command: o.line,
          error: o.error.message,
        });
    }
    const failed = outcomes.filter((o) => o.error !== undefined).length;
    this.#log.info('reload-finished', { file, changes: outcomes.length - failed, failed });
    return outcomes;
  }

  /**
   * SIGTERM: stop accepting, let open sessions finish for up to `timeoutMs`,
   * then save and stop (closing whatever is left).
   */
  async drain(timeoutMs: number): Promise<void> {
    this.#stdio?.close();
    // Logged once the ports are closed, so whoever reads it may rely on that.
    const r = await drainListeners(this.store, timeoutMs, (sessions) =>
      this.#log.info('drain-started', { sessions, timeoutMs }),
    );
    const fields = { sessions: r.atStart, left: r.left, waitedMs: r.waitedMs };
    if (r.left > 0) this.#log.warn('drain-timeout', fields);
    else this.#log.info('drain-finished', fields);
    await this.stop();
  }

  /** Save (unless --no-save), close every controller and resource. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#autoSave) clearInterval(this.#autoSave);
      await this.#saveLast();
      this.#stdio?.close();
      await Promise.all([...this.#controllers.values()].map((c) => c.close()));
      this.#controllers.clear();
      await this.store.close();
      if (this.#options.pidFile !== undefined) rmSync(this.#options.pidFile, { force: true });
      this.#log.info('daemon-stopped', { saved: this.#options.save ? this.#lastFile : 'off' });
    })();
    return this.#stopping;
  }

  async #saveLast(): Promise<void> {
    if (!this.#options.save) return;
    try {
      await this.executor.save(this.#lastFile);
      this.#log.debug('config-saved', { file: this.#lastFile });
    } catch (err) {
      this.#log.error('config-save-failed', {
        file: this.#lastFile,
        error: (err as Error).message,
      });
    }
  }

  #names(): string[] {
    const s = this.store;
    return [
      ...s.tcpLbs.keys(),
      ...s.upstreams.keys(),
      ...s.serverGroups.keys(),
      ...s.securityGroups.keys(),
      ...s.certKeys.keys(),
      ...s.elgs.keys(),
      ...s.nodeDelegates.keys(),
      ...s.groupDelegates.keys(),
    ];
  }

  async #addController(
    kind: ControllerKind,
    name: string,
    address: string,
    given: string | undefined,
    origin: ControllerOrigin,
  ): Promise<string> {
    if (this.#controllers.has(name)) {
      throw new VproxyError('ERR_ALREADY_EXISTS', `Duplicated entry for ${kind} with ${name}.`);
    }
    const parsed = parseAddress(address);
    // A password does not make a network-made controller safe to expose: the
    // request may be forged (CSRF) or the client compromised. Only the operator
    // (flags, StdIO) may open one beyond loopback.
    if ((origin === 'resp' || origin === 'http') && !isLoopback(parsed.host)) {
      throw new ControlError(
        'ERR_FORBIDDEN',
        `a ${kind} added over ${origin} listens only on loopback, not ${parsed.host}` +
          ' (use the StdIO prompt or a command-line flag for other addresses)',
      );
    }
    const secretKind = kind === 'resp-controller' ? 'resp-password' : 'http-token';
    const { secret, generated, file } = controllerSecret(
      this.#options.configDir,
      secretKind,
      given,
      parsed.host,
    );
    const common = {
      name,
      address: parsed,
      executor: this.executor,
      registry: this.store.registry,
    };
    const pages = this.#options.pages;
    const controller = await listening<Controller>(address, () =>
      kind === 'resp-controller'
        ? RespController.start({ ...common, password: secret })
        : HttpController.start({
            ...common,
            token: secret,
            version: VERSION,
            ...(pages ? { pages: pages(this.store) } : {}),
          }),
    );
    controller.on('error', (err) =>
      this.#log.error('controller-error', {
        controller: kind,
        name,
        error: err.message,
        code: (err as NodeJS.ErrnoException).code,
        cause: err.cause instanceof Error ? err.cause.message : undefined,
      }),
    );
    this.#controllers.set(name, controller);
    const bound = controller.address();
    this.#log.info('controller-listening', {
      controller: kind,
      name,
      address: formatHostPort(bound.host, bound.port),
      secretFrom:
        given !== undefined ? 'given' : generated ? `generated now, kept in ${file}` : file,
    });
    return bannerLine({
      kind,
      name,
      host: bound.host,
      port: bound.port,
      secret: { given: given !== undefined, generated, file, value: secret },
      // Only the start-up banner (the operator's own console) may show a
      // secret, once, when generated; a command's answer never does.
      mayShowSecret: origin === 'command-line',
      statusPage: kind === 'http-controller' && pages !== undefined,
    });
  }

  #hooks(): SystemHooks {
    return {
      addController: (kind, name, address, secret, origin) =>
        this.#addController(kind, name, address, secret, origin),
      removeController: async (kind, name) => {
        const c = this.#controllers.get(name);
        const matches =
          kind === 'resp-controller' ? c instanceof RespController : c instanceof HttpController;
        if (!c || !matches)
          throw new VproxyError('ERR_NOT_FOUND', `Cannot find ${kind} with name ${name}.`);
        this.#controllers.delete(name);
        await c.close();
      },
      listControllers: (kind) =>
        [...this.#controllers.values()]
          .filter((c) =>
            kind === 'resp-controller' ? c instanceof RespController : c instanceof HttpController,
          )
          .map((c) => {
            const a = c.address();
            return { name: c.name, address: formatHostPort(a.host, a.port) };
          }),
      shutdown: () => {
        void this.stop().then(() => process.exit(0));
      },
    };
  }
}
