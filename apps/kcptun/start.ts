import { parseKcptunArgs, type Side, usage } from './flags.js';
import { describe, runClient, runServer } from './run.js';
import { startSnmpLog } from './snmp-log.js';

// Apart from command.ts so that the kcptun modules load only when `vproxy kcptun` runs.

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
  const snmp = await startSnmpLog(cli, (w) => log(`warning: ${w}`));
  const stop = (): void => {
    void Promise.all([snmp?.stop(), running.close()]).finally(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
