import { Command } from 'commander';
import { parseKcptunArgs, type Side, usage } from './flags.js';
import { describe, runClient, runServer } from './run.js';

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

/** Parses kcptun's flags, starts the side, and stops on SIGINT / SIGTERM. */
export async function startKcptun(side: Side, argv: readonly string[]): Promise<void> {
  const cli = parseKcptunArgs(side, argv);
  if (cli.help) {
    console.log(usage(side));
    return;
  }
  for (const w of cli.warnings) log(`warning: ${w}`);
  for (const line of describe(cli)) log(line);
  const running = side === 'client' ? await runClient(cli, log) : await runServer(cli, log);
  const stop = (): void => {
    void running.close().finally(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/**
 * `vproxy kcptun client|server [kcptun flags]`. The flags are kcptun's, parsed by
 * flags.ts rather than commander: kcptun (urfave/cli) also takes `-key x` with one dash,
 * and an existing kcptun command line must work unchanged.
 */
export function kcptunCommand(): Command {
  return new Command('kcptun')
    .description('kcptun-compatible client or server: vproxy kcptun client|server [kcptun flags]')
    .argument('<side>', 'client or server')
    .argument('[flags...]', "kcptun's flags (see vproxy kcptun client --help)")
    .helpOption(false)
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .action(async (side: string, _flags: string[], command: Command) => {
      if (side !== 'client' && side !== 'server') {
        command.error(`error: expected client or server, got '${side}'`);
      }
      // Everything after the side, untouched by commander.
      const at = process.argv.indexOf(side, process.argv.indexOf('kcptun') + 1);
      await startKcptun(side as Side, process.argv.slice(at + 1));
    });
}
