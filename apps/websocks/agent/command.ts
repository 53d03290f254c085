import { Command } from 'commander';
import type { AgentControllerFlags } from './controllers.js';

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
      .action(async (config: string, _flags: WebsocksAgentFlags, command: Command) => {
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
        // The agent's modules load only when it runs (not for another command, nor --help).
        const { startWebsocksAgent } = await import('./start.js');
        await startWebsocksAgent(config, { ...flags, ...controllers });
      })
  );
}
