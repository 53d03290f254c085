#!/usr/bin/env node
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { isVproxyError } from '../src/fd/errors.js';
import { DEFAULT_FIN_TIMEOUT_MS, DEFAULT_RETRIES } from '../src/proxy/engine-options.js';
import { ETCD_PASSWORD_ENV, VERSION } from './cli-constants.js';
import type { DaemonFlags } from './daemon/start.js';
import { kcptunCommand } from './kcptun/command.js';
import type { SimpleFlags } from './simple/command.js';
import { websocksAgentCommand } from './websocks/agent/command.js';
import { websocksServerCommand } from './websocks/server/command.js';

// Only the option definitions and help text load eagerly: each subcommand's
// implementation (and the daemon's) is imported inside its action, so a process runs
// with the modules of the one command it runs (a kcptun client does not carry the
// daemon's control, mesh and status pages, nor their heap and GC work).

function positiveInt(value: string): number {
  if (!/^[0-9]{1,10}$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}

function list(value: string, previous: string[] = []): string[] {
  return previous.concat(value.split(',').filter((v) => v.length > 0));
}

const program = new Command()
  .name('vproxy')
  .description(
    'Transport-pluggable tunnelling and load balancing. Without a subcommand: the daemon.',
  )
  .version(VERSION)
  .showHelpAfterError()
  .option('--load <file>', 'load this config instead of the last saved one')
  .option('--no-load-last', 'do not load <config-dir>/last at start')
  .option('--no-save', 'never save the config (no hourly or exit save)')
  .option('--no-stdio', 'no interactive prompt on stdin')
  .option('--resp-controller <address>', 'RESP controller address, or "off"', '127.0.0.1:16309')
  .option(
    '--resp-password <password>',
    'RESP password (default: generated, kept in the config dir)',
  )
  .option('--http-controller <address>', 'HTTP controller address, or "off"', '127.0.0.1:18776')
  .option('--http-token <token>', 'HTTP bearer token (default: generated, kept in the config dir)')
  .option('--pid-file <file>', 'write the process id here')
  .option(
    '--config-dir <dir>',
    'where last config and generated secrets live',
    join(homedir(), '.vproxy-ts'),
  )
  .option('--allow-remote-file-commands', 'let RESP/HTTP run save and load', false)
  .option(
    '--log-level <level>',
    'off, error, warn, info or debug (default: $VPROXY_LOG, else info)',
  )
  .option('--log-format <format>', 'text (one human line per event) or json', 'text')
  .option(
    '--drain-timeout <ms>',
    'on SIGTERM, how long open sessions may finish before they are closed',
    positiveInt,
    30_000,
  )
  .option(
    '--etcd <endpoints>',
    'service registry: comma-separated etcd endpoints, e.g. http://a:2379,http://b:2379 (default: in-process)',
  )
  .option('--etcd-ca <file>', 'PEM CA of the etcd servers (https:// endpoints)')
  .option('--etcd-cert <file>', 'PEM client certificate for etcd (with --etcd-key)')
  .option('--etcd-key <file>', 'PEM client key for etcd')
  .option('--etcd-user <name>', 'etcd user (password auth)')
  .option(
    '--etcd-password <password>',
    `etcd password (better: $${ETCD_PASSWORD_ENV}, which ps does not show)`,
  )
  .option(
    '--etcd-lease-ttl <seconds>',
    "lease TTL of this daemon's registrations: a crashed daemon's services go after this long",
    positiveInt,
    10,
  )
  .option(
    '--workers <n>',
    'worker processes of the default event loop group (tcp-lbs use it unless told otherwise); 1 = this process',
    positiveInt,
    1,
  )
  .action(async (flags: DaemonFlags, command: Command) => {
    const [unknown] = command.args;
    if (unknown !== undefined) {
      command.error(`error: unknown command '${unknown}' (commands: simple, help)`, {
        code: 'commander.unknownCommand',
      });
    }
    const { startDaemon } = await import('./daemon/start.js');
    await startDaemon(flags);
  });

program
  .command('simple')
  .description('proxy one listener to a round-robin list of backends, over any transport')
  .requiredOption(
    '--bind <address>',
    'listen address, e.g. 127.0.0.1:8080 or tls://0.0.0.0:443?cert=…&cert-key=…',
  )
  .requiredOption('--backend <addresses>', 'comma-separated backend addresses (repeatable)', list)
  .option(
    '--idle-timeout <ms>',
    'close a session after this long without traffic',
    positiveInt,
    900_000,
  )
  .option(
    '--udp-idle-timeout <ms>',
    'datagram mode (a udp:// bind or backend): close a UDP flow after this long without datagrams',
    positiveInt,
    60_000,
  )
  .option(
    '--fin-timeout <ms>',
    'close a half-closed session (one side sent FIN) after this long without traffic; 0 = never',
    positiveInt,
    DEFAULT_FIN_TIMEOUT_MS,
  )
  .option(
    '--connect-timeout <ms>',
    'give up on a backend connect after this long',
    positiveInt,
    10_000,
  )
  .option(
    '--retries <n>',
    'retry a failed backend connect on another backend this many times',
    positiveInt,
    DEFAULT_RETRIES,
  )
  .option('--health-check <kind>', 'tcp: probe the backends and skip unhealthy ones; none', 'none')
  .option('--health-period <ms>', 'time between two probes of a backend', positiveInt, 2_000)
  .option('--health-timeout <ms>', 'a probe not done after this long failed', positiveInt, 1_000)
  .option(
    '--log-level <level>',
    'off, error, warn, info or debug (default: $VPROXY_LOG, else info)',
  )
  .option('--log-format <format>', 'text (human lines) or json (one object per line)')
  .option('--access-log [file]', 'one line per closed session, to stderr or appended to <file>')
  .option(
    '--workers <n>',
    'worker processes that accept on the one socket and run the sessions (tcp stacks; 1 = this process)',
    positiveInt,
    1,
  )
  // Options the program shares (--log-level…) may be parsed by it: read both.
  .action(async (_opts: SimpleFlags, command: Command) => {
    const { startSimple } = await import('./simple/command.js');
    await startSimple(command.optsWithGlobals<SimpleFlags>());
  });

program.addCommand(websocksServerCommand());
program.addCommand(websocksAgentCommand());
program.addCommand(kcptunCommand());

// Without a subcommand the operands would be "too many arguments" of the
// daemon; a word there is a mistyped command, and the daemon's action names it.
// Set last: subcommands copy their parent's settings when created.
program.allowExcessArguments(true);

program.parseAsync(process.argv).catch((err: unknown) => {
  const message = isVproxyError(err) ? `${err.message} [${err.code}]` : (err as Error).message;
  console.error(`vproxy: ${message}`);
  process.exit(1);
});
