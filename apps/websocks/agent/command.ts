import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { Command } from 'commander';
import { createLogger, parseLogFormat, parseLogLevel } from '../../../src/fd/logger.js';
import { expandHome } from '../../../src/protocols/websocks/config-values.js';
import { WebsocksAgent } from '../../../src/websocks/agent.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { loadAgentConfigText } from './config-file.js';
import { type AgentControllerFlags, startAgentControllers } from './controllers.js';
import { startServerPrograms } from './server-programs.js';

export interface WebsocksAgentFlags extends AgentControllerFlags {
  readonly users?: string;
  readonly logLevel?: string;
  readonly logFormat?: string;
}

/** `vproxy websocks-agent [CONFIG]`, added to the program by one call in apps/vproxy.ts. */
export function websocksAgentCommand(): Command {
  return (
    new Command('websocks-agent')
      .description(
        'WebSocks agent: SOCKS5, HTTP proxy and PAC on this machine; rules send targets direct or through websocks servers',
      )
      .argument(
        '[config]',
        'config file: the reference agent format, or JSON when it ends in .json',
        '~/vproxy-websocks-agent.conf',
      )
      .option('--users <users>', 'front-end users user:pass,… (required with agent.gateway on)')
      .option(
        '--log-level <level>',
        'off, error, warn, info or debug (default: $VPROXY_LOG, else info)',
      )
      .option('--log-format <format>', 'text (human lines) or json (one object per line)')
      // The program's own --http-controller / --resp-controller (the daemon's) may take these
      // flags; they carry defaults there, so a value counts only when typed: the agent's
      // controllers are off unless asked for.
      .action((config: string, _flags: WebsocksAgentFlags, command: Command) => {
        const all = command.optsWithGlobals<Record<string, string | undefined>>();
        const typed = (key: string): string | undefined =>
          command.getOptionValueSourceWithGlobals(key) === 'cli' ? all[key] : undefined;
        const flags: WebsocksAgentFlags = {
          ...(all.users === undefined ? {} : { users: all.users }),
          ...(all.logLevel === undefined ? {} : { logLevel: all.logLevel }),
          ...(all.logFormat === undefined ? {} : { logFormat: all.logFormat }),
        };
        const controllers: Record<string, string> = {};
        for (const key of ['httpController', 'httpToken', 'respController', 'respPassword']) {
          const v = typed(key);
          if (v !== undefined) controllers[key] = v;
        }
        return startWebsocksAgent(config, { ...flags, ...controllers });
      })
  );
}

function parseUsers(text: string): Map<string, string> {
  const users = new Map<string, string>();
  for (const pair of text.split(',').filter((p) => p.length > 0)) {
    const colon = pair.indexOf(':');
    if (colon <= 0) throw new Error(`--users: ${JSON.stringify(pair)} is not user:pass`);
    users.set(pair.slice(0, colon), pair.slice(colon + 1));
  }
  return users;
}

/** Load the config, start every listener, print one line each, stop on SIGINT / SIGTERM. */
export async function startWebsocksAgent(path: string, flags: WebsocksAgentFlags): Promise<void> {
  const logger = createLogger({
    threshold: parseLogLevel(flags.logLevel ?? process.env.VPROXY_LOG ?? 'info'),
    format: parseLogFormat(flags.logFormat ?? 'text'),
  });
  const home = homedir();
  const file = expandHome(path, home);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the agent config ${file}: ${(err as Error).message}`);
  }
  const loaded = loadAgentConfigText(text, { home, json: file.endsWith('.json') });
  let stop: (() => void) | null = null;
  let stopping = false;
  const onSignal = () => {
    stopping = true;
    stop?.();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const users = flags.users !== undefined ? parseUsers(flags.users) : loaded.users;
  const programs = await startServerPrograms(loaded.config, home, loaded.cdn, logger);
  process.once('exit', programs.stop);
  const registry = createDefaultRegistry(logger);
  const agent = await WebsocksAgent.start({
    config: loaded.config,
    registry,
    logger,
    abpFiles: loaded.abpFiles,
    otherwise: loaded.otherwise,
    cdn: programs.cdn,
    users,
    healthCheck: {
      ...(loaded.healthPeriodMs === undefined ? {} : { periodMs: loaded.healthPeriodMs }),
      ...(loaded.healthTimeoutMs === undefined ? {} : { timeoutMs: loaded.healthTimeoutMs }),
    },
    ...(loaded.pingTimeoutMs === undefined ? {} : { pingTimeoutMs: loaded.pingTimeoutMs }),
    ...(loaded.pongIntervalMs === undefined ? {} : { pongIntervalMs: loaded.pongIntervalMs }),
    ...(loaded.ssMethod === undefined ? {} : { ssMethod: loaded.ssMethod }),
    earlyReply: loaded.earlyReply,
  });
  if (loaded.config.ssListen !== null && (loaded.ssMethod ?? 'aes-256-cfb') === 'aes-256-cfb') {
    // The reference's cipher, kept for old clients: it has no integrity check.
    logger.warn('shadowsocks-weak-cipher', {
      method: 'aes-256-cfb',
      hint: 'set agent.ss.method chacha20-ietf-poly1305 (or aes-256-gcm) and update the clients',
    });
  }
  if (!loaded.config.certVerify) {
    // The reference warned per connection; once at start says the same without the noise.
    logger.warn('server-certificates-not-verified', {
      reason: 'agent.cert.verify off: any certificate is trusted for websockss servers',
      hint: 'give the CA with agent.cacerts.path instead',
    });
  }
  if (loaded.config.cacertsPassword !== null) {
    logger.debug('cacerts-password-ignored', { reason: 'agent.cacerts.path is a PEM bundle' });
  }
  const controllers = await startAgentControllers(agent, registry, logger, flags).catch(
    async (err: unknown) => {
      await agent.close();
      throw err;
    },
  );
  for (const line of agent.describeListeners()) {
    console.log(`vproxy websocks-agent: ${line.replace(' ', ' listening on ')}`);
  }
  for (const line of controllers?.lines ?? []) console.log(`vproxy websocks-agent: ${line}`);
  for (const group of agent.routing.groups()) {
    console.log(
      `vproxy websocks-agent: server list ${group.name}: ${group
        .servers()
        .map((s) => s.name)
        .join(', ')}`,
    );
  }
  stop = () => {
    programs.stop();
    void Promise.all([controllers?.close(), agent.close()]).then(() => {
      const c = agent.routing.counts;
      const proxied = Object.values(c.proxied).reduce((a, b) => a + b, 0);
      console.log(`vproxy websocks-agent: stopped after ${proxied} proxied, ${c.direct} direct`);
    });
  };
  if (stopping) stop();
}
