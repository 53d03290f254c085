import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type ControllerKind,
  StoreExecutor,
  type SystemHooks,
} from '../../src/control/command-executor.js';
import { VERSION } from '../../src/control/config.js';
import { HttpController, type PageHandler } from '../../src/control/controllers/http-controller.js';
import { RespController } from '../../src/control/controllers/resp-controller.js';
import { StdioController } from '../../src/control/controllers/stdio-controller.js';
import type { Origin } from '../../src/control/executor.js';
import { ResourceStore } from '../../src/control/store.js';
import { formatHostPort, parseAddress } from '../../src/fd/address.js';
import { VproxyError } from '../../src/fd/errors.js';
import type { Registry } from '../../src/fd/registry.js';
import { controllerSecret, isLoopback } from './secrets.js';

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
}

type Controller = RespController | HttpController;

/** Who asks for a controller: a command (stdio, resp, http) or the daemon's own flags. */
type ControllerOrigin = Origin | 'command-line';

/**
 * The vproxy daemon: a resource store, one executor, and the controllers over
 * it. The config is saved to `<config-dir>/last` hourly and on the way out, and
 * loaded from there at the next start.
 */
export class Daemon {
  readonly store: ResourceStore;
  readonly executor: StoreExecutor;
  readonly #options: DaemonOptions;
  readonly #controllers = new Map<string, Controller>();
  readonly #lastFile: string;
  #autoSave: NodeJS.Timeout | undefined;
  #stdio: StdioController | undefined;
  #stopping: Promise<void> | undefined;

  constructor(registry: Registry, options: DaemonOptions) {
    this.#options = options;
    mkdirSync(options.configDir, { recursive: true, mode: 0o700 });
    this.#lastFile = join(options.configDir, 'last');
    this.store = new ResourceStore(registry);
    this.executor = new StoreExecutor({
      store: this.store,
      system: this.#hooks(),
      allowRemoteFileCommands: options.allowRemoteFileCommands,
    });
  }

  async start(): Promise<void> {
    const o = this.#options;
    if (o.load !== undefined) await this.executor.load(o.load);
    else if (o.loadLast && existsSync(this.#lastFile)) {
      const n = await this.executor.load(this.#lastFile);
      console.log(`vproxy: loaded ${n} commands from ${this.#lastFile}`);
    }
    if (o.respController !== 'off') {
      console.log(
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
      console.log(
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
    console.log(`vproxy-ts ${VERSION} started; type \`help\` for the command language`);
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
    })();
    return this.#stopping;
  }

  async #saveLast(): Promise<void> {
    if (!this.#options.save) return;
    try {
      await this.executor.save(this.#lastFile);
    } catch (err) {
      console.error(`vproxy: saving ${this.#lastFile} failed: ${(err as Error).message}`);
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
      throw new VproxyError(
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
    const controller =
      kind === 'resp-controller'
        ? await RespController.start({ ...common, password: secret })
        : await HttpController.start({
            ...common,
            token: secret,
            version: VERSION,
            ...(this.#options.pages ? { pages: this.#options.pages(this.store) } : {}),
          });
    controller.on('error', (err) => console.error(`vproxy: ${name}: ${err.message}`));
    this.#controllers.set(name, controller);
    const bound = controller.address();
    const where = formatHostPort(bound.host, bound.port);
    // Only the start-up banner (the operator's own console) shows the secret;
    // a command's answer says where it is, so no client ever reads it back.
    const shown =
      origin === 'command-line'
        ? secret
        : given !== undefined
          ? `<your ${secretKind}>`
          : `"$(cat ${file})"`;
    const how =
      kind === 'resp-controller'
        ? `redis-cli -p ${bound.port} -a ${shown}`
        : `curl -H "Authorization: Bearer ${shown}" http://${where}/api/v1/module/tcp-lb`;
    const source =
      given !== undefined ? 'given' : generated ? `generated, stored in ${file}` : `from ${file}`;
    return `${kind} ${name} listening on ${where} (${secretKind} ${source}): ${how}`;
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
          .map((c) => c.describe()),
      shutdown: () => {
        void this.stop().then(() => process.exit(0));
      },
    };
  }
}
