import { readFileSync } from 'node:fs';
import { VproxyError } from '../../fd/errors.js';
import type { Logger } from '../../fd/logger.js';
import { WebsocksUsers } from '../../protocols/websocks/password-hash.js';
import { watchFiles } from './file-watch.js';

/**
 * A users file: one `user:password` per line (or several, comma-separated),
 * `#` comments and blank lines ignored — the `--auth` list spread over lines.
 */
export function parseUsersFile(text: string): [string, string][] {
  const items: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/#.*$/, '').trim();
    if (line.length > 0) items.push(...line.split(',').filter((s) => s.trim().length > 0));
  }
  return items.length === 0 ? [] : pairsOf(items.join(','));
}

/**
 * The users a server accepts now: `--auth` users plus the users file's, the
 * file re-read when it changes. A file that no longer parses keeps the last
 * good users (logged), so a half-saved edit locks nobody out.
 */
export class UsersSource {
  readonly #fixed: readonly (readonly [string, string])[];
  readonly #file: string | undefined;
  readonly #log: Logger;
  #users: WebsocksUsers;
  #stop: (() => void) | null = null;

  constructor(auth: string | undefined, file: string | undefined, log: Logger) {
    this.#fixed = auth === undefined ? [] : pairsOf(auth);
    this.#file = file;
    this.#log = log;
    try {
      this.#users = this.#load();
    } catch (err) {
      throw new VproxyError(
        'ERR_OPTION_INVALID',
        `${file === undefined ? '--auth' : `--auth / --users-file ${file}`}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }

  get users(): WebsocksUsers {
    return this.#users;
  }

  /** Start watching the file (if any). */
  watch(intervalMs: number): void {
    if (this.#file === undefined || this.#stop !== null) return;
    this.#stop = watchFiles([this.#file], intervalMs, () => {
      try {
        this.#users = this.#load();
        this.#log.info('websocks-users-reloaded', { file: this.#file, users: this.#users.size });
      } catch (err) {
        this.#log.warn('websocks-users-reload-failed', {
          file: this.#file,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    });
  }

  close(): void {
    this.#stop?.();
    this.#stop = null;
  }

  #load(): WebsocksUsers {
    const pairs: (readonly [string, string])[] = [...this.#fixed];
    if (this.#file !== undefined) {
      pairs.push(...parseUsersFile(readFileSync(this.#file, 'utf8')));
    }
    return new WebsocksUsers(pairs);
  }
}

function pairsOf(list: string): [string, string][] {
  // WebsocksUsers.parse validates; this keeps the raw pairs to merge with the file's.
  WebsocksUsers.parse(list);
  return list.split(',').map((item) => {
    const [u, p] = item.split(':') as [string, string];
    return [u, p];
  });
}
