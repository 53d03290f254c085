import { createInterface, type Interface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { isVproxyError } from '../../fd/errors.js';
import { ACTIONS, FLAGS, PARAMS, TYPES } from '../command/keywords.js';
import { redactSecrets } from '../command/parse.js';
import type { CommandExecutor } from '../executor.js';
import { renderText } from './render-text.js';

export interface StdioControllerOptions {
  readonly executor: CommandExecutor;
  readonly input: Readable;
  readonly output: Writable;
  /** Names of existing resources, for tab completion. */
  readonly names: () => string[];
  /** ANSI colours for failures (on when the output is a terminal). */
  readonly color?: boolean;
}

const KEYWORDS = [
  ...new Set([...ACTIONS.keys(), ...TYPES.keys(), ...PARAMS.keys(), ...FLAGS.keys()]),
  'in',
  'to',
  'from',
  'help',
  'man',
  'version',
  'save',
  'load',
  'shutdown',
  'config',
  'resp-controller',
  'http-controller',
].sort();

/**
 * The interactive prompt: one command per line, history, and tab completion of
 * keywords and resource names. Lines run one after another, in order.
 */
export class StdioController {
  readonly #rl: Interface;
  readonly #options: StdioControllerOptions;
  #queue: Promise<void> = Promise.resolve();

  constructor(options: StdioControllerOptions) {
    this.#options = options;
    this.#rl = createInterface({
      input: options.input,
      output: options.output,
      prompt: '> ',
      historySize: 500,
      completer: (line: string) => this.#complete(line),
    });
    this.#rl.on('line', (line) => {
      this.#queue = this.#queue.then(() => this.#run(line));
    });
    this.#rl.prompt();
  }

  /** Resolves when the input ends (Ctrl-D, or a closed pipe). */
  closed(): Promise<void> {
    return new Promise((resolve) => this.#rl.once('close', () => this.#queue.then(resolve)));
  }

  close(): void {
    this.#rl.close();
  }

  #complete(line: string): [string[], string] {
    const word = line.split(' ').at(-1) ?? '';
    const pool = [...KEYWORDS, ...this.#options.names()];
    const hits = pool.filter((k) => k.startsWith(word));
    return [hits.length > 0 ? hits : pool, word];
  }

  async #run(line: string): Promise<void> {
    const trimmed = line.trim();
    if (trimmed.length > 0) {
      try {
        const result = await this.#options.executor.execute(trimmed, 'stdio');
        this.#options.output.write(`${renderText(result)}\n`);
      } catch (err) {
        const message = isVproxyError(err)
          ? err.message
          : `internal error: ${(err as Error).message}`;
        // The echo may end up in a log: it never shows a password.
        const text = `command \`${redactSecrets(trimmed)}\` failed! ${message}`;
        this.#options.output.write(this.#options.color ? `\x1b[31m${text}\x1b[0m\n` : `${text}\n`);
      }
    }
    this.#rl.prompt();
  }
}
