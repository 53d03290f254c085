import { Command, InvalidArgumentError } from 'commander';

/** The flags as commander gives them. */
export interface WebsocksServerFlags {
  readonly listen: string;
  readonly auth?: string;
  readonly usersFile?: string;
  readonly webroot?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly redirectPort?: number;
  readonly kcp?: boolean;
  readonly pathPrefix?: string;
  readonly allowLoopback?: boolean;
  readonly replayBudget?: number;
  readonly reloadInterval?: number;
  readonly idleTimeout?: number;
  readonly handshakeTimeout?: number;
  readonly logLevel?: string;
  readonly logFormat?: string;
  readonly httpController?: string;
  readonly respController?: string;
  readonly respPassword?: string;
  readonly httpToken?: string;
}

function port(value: string): number {
  if (!/^[0-9]{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65_535) {
    throw new InvalidArgumentError('expected a port, 1-65535');
  }
  return Number(value);
}

function positiveInt(value: string): number {
  if (!/^[0-9]{1,9}$/.test(value) || Number(value) < 1) {
    throw new InvalidArgumentError('expected a positive whole number');
  }
  return Number(value);
}

/** A flag's value when the user gave it (on this command or the program), not a default. */
function explicit(command: Command, key: string): string | undefined {
  for (let c: Command | null = command; c !== null; c = c.parent) {
    const source = c.getOptionValueSource(key);
    if (source !== undefined && source !== 'default') {
      const value: unknown = c.getOptionValue(key);
      return typeof value === 'string' ? value : undefined;
    }
  }
  return undefined;
}

/** `vproxy websocks-server …`, added to the program by a one-line call in apps/vproxy.ts. */
export function websocksServerCommand(): Command {
  return (
    new Command('websocks-server')
      .description(
        'WebSocks server: a web site to everyone, a tunnel (ws/wss/kcp) to users with the time-salted password',
      )
      .requiredOption(
        '--listen <address>',
        'ws://host:port, wss://host:port, or a port (ws://0.0.0.0:port)',
      )
      .option('--auth <users>', 'user:pass,user2:pass2')
      .option('--users-file <file>', 'user:pass lines (# comments); re-read when it changes')
      .option(
        '--webroot <dir>',
        'the static site every non-tunnel request gets (default: nginx welcome page)',
      )
      .option('--cert <file>', 'PEM certificate chain (reloaded when it changes)')
      .option('--key <file>', 'PEM private key (reloaded when it changes)')
      .option(
        '--redirect-port <port>',
        'plain-HTTP port answering 301 to https on the main port',
        port,
      )
      .option('--kcp', 'also listen kcp:// (fast4 + mux streams) on the same port over UDP')
      .option(
        '--path-prefix <path>',
        'secret tunnel path; upgrades for other paths get the web site',
      )
      .option(
        '--allow-loopback',
        "let users reach this server's loopback, link-local and own addresses",
      )
      .option(
        '--replay-budget <n>',
        'uses of one Authorization header within its 3-minute window (a reference agent reuses it for its whole pool)',
        positiveInt,
        512,
      )
      .option(
        '--reload-interval <ms>',
        'how often users and certificate files are checked',
        positiveInt,
        1000,
      )
      .option(
        '--idle-timeout <ms>',
        'close a tunnel after this long without traffic either way',
        positiveInt,
        900_000,
      )
      .option(
        '--handshake-timeout <ms>',
        'TLS, each request head, and the SOCKS5 stage must be done within this long',
        positiveInt,
        10_000,
      )
      .option(
        '--http-controller <address>',
        'status page, /metrics and REST here (off by default; loopback advised)',
      )
      .option(
        '--http-token <token>',
        'bearer token of --http-controller (better: $VPROXY_HTTP_TOKEN)',
      )
      .option(
        '--resp-controller <address>',
        'the command language over RESP (redis-cli) here (off by default; loopback advised)',
      )
      .option(
        '--resp-password <password>',
        'password of --resp-controller (better: $VPROXY_RESP_PASSWORD)',
      )
      .option(
        '--log-level <level>',
        'off, error, warn, info or debug (default: $VPROXY_LOG, else info)',
      )
      .option('--log-format <format>', 'text (human lines) or json (one object per line)')
      // Options the program shares (--log-level…) may be parsed by it: read both.
      .action(async (_flags: WebsocksServerFlags, command: Command) => {
        // The daemon's program has --http-controller/--http-token too, with a default:
        // only a value the user gave counts here.
        const {
          httpController: _c,
          httpToken: _t,
          respController: _r,
          respPassword: _p,
          ...rest
        } = command.optsWithGlobals<WebsocksServerFlags>();
        const controller = explicit(command, 'httpController');
        const token = explicit(command, 'httpToken') ?? process.env.VPROXY_HTTP_TOKEN;
        const resp = explicit(command, 'respController');
        const password = explicit(command, 'respPassword') ?? process.env.VPROXY_RESP_PASSWORD;
        // The server's modules load only when it runs (not for another command, nor --help).
        const { startWebsocksServer } = await import('./start.js');
        await startWebsocksServer({
          ...rest,
          ...(controller === undefined ? {} : { httpController: controller }),
          ...(token === undefined ? {} : { httpToken: token }),
          ...(resp === undefined ? {} : { respController: resp }),
          ...(password === undefined ? {} : { respPassword: password }),
        });
      })
  );
}
