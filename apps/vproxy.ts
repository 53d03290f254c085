#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { isVproxyError } from '../src/fd/errors.js';
import { createDefaultRegistry } from '../transports/default-registry.js';
import { runSimple } from './simple/run-simple.js';

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
    'Transport-pluggable tunnelling and load balancing (TCP, TLS; KCP and WebSocket to come)',
  )
  .version('0.1.0')
  .showHelpAfterError();

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
    '--connect-timeout <ms>',
    'give up on a backend connect after this long',
    positiveInt,
    10_000,
  )
  .action(
    async (opts: {
      bind: string;
      backend: string[];
      idleTimeout: number;
      connectTimeout: number;
    }) => {
      const proxy = await runSimple(createDefaultRegistry(), {
        bind: opts.bind,
        backends: opts.backend,
        idleTimeoutMs: opts.idleTimeout,
        connectTimeoutMs: opts.connectTimeout,
      });
      const stop = () => {
        proxy.close().then(() => {
          const s = proxy.stats();
          console.log(
            `vproxy simple: stopped after ${s.accepted} connections, ${s.bytesIn} bytes in, ${s.bytesOut} out`,
          );
        });
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    },
  );

if (process.argv.length <= 2) {
  // No daemon mode yet (the control-plane issue brings it): show what there is.
  program.outputHelp();
  process.exit(0);
}

program.parseAsync(process.argv).catch((err: unknown) => {
  const message = isVproxyError(err) ? `${err.message} [${err.code}]` : (err as Error).message;
  console.error(`vproxy: ${message}`);
  process.exit(1);
});
