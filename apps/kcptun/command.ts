import { Command } from 'commander';
import type { Side } from './flags.js';

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
    .action(async (side: string, _flags: string[], _opts: unknown, command: Command) => {
      // With two arguments declared, commander passes them, the options, then the command.
      if (side !== 'client' && side !== 'server') {
        command.error(`error: expected client or server, got '${side}'`);
      }
      // Everything after the side, untouched by commander.
      const at = process.argv.indexOf(side, process.argv.indexOf('kcptun') + 1);
      const { startKcptun } = await import('./start.js');
      await startKcptun(side as Side, process.argv.slice(at + 1));
    });
}
