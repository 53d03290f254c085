import type { DetailList } from './details/records.js';

/** Where a command comes from: some commands (save, load, shutdown) are refused off StdIO. */
export type Origin = 'stdio' | 'resp' | 'http';

/** One listed item: a name or detail line, or a tuple (a session's two connections). */
export type ListItem = string | readonly string[];

/** What a command produced; each controller renders it in its own protocol. */
export type CommandResult =
  | { readonly kind: 'done' }
  | { readonly kind: 'number'; readonly value: number }
  | {
      readonly kind: 'list';
      readonly items: readonly ListItem[];
      /**
       * list-detail's records, from which `items` was rendered (detailList):
       * REST answers these as JSON objects, the other controllers the text.
       */
      readonly details?: DetailList;
    }
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'lines'; readonly lines: readonly string[] };

/**
 * The one place commands run. Controllers are thin adapters over it, so a
 * command gives the same result through StdIO, RESP and HTTP. Failures reject
 * with a VproxyError whose message is shown to the user as is.
 */
export interface CommandExecutor {
  execute(line: string, origin: Origin): Promise<CommandResult>;
}
