import { VproxyError } from '../../fd/errors.js';
import type { Command } from '../command/parse.js';
import { detailList } from '../details/records.js';
import type { CommandResult } from '../executor.js';
import { mustGet, type ResourceStore } from '../store.js';
import { unsupportedAction } from './unsupported.js';

// socks5-user: the RFC 1929 user table of a socks5-server. Commands change the
// live table the running server checks, so they apply to the next handshake
// without restarting the listener.

const DONE: CommandResult = { kind: 'done' };

export function socks5UserCommand(store: ResourceStore, cmd: Command): CommandResult {
  const serverName = cmd.location[0]?.name ?? '';
  const entry = mustGet(store.socks5Servers, 'socks5-server', serverName);
  const users = entry.auth.users;
  const name = cmd.name ?? '';
  switch (cmd.action) {
    case 'list':
      return { kind: 'list', items: [...users.keys()] };
    case 'list-detail':
      // Names only: a password is never shown (only `list config` and saved files hold them).
      return detailList(
        'socks5-user',
        [...users.keys()].map((n) => ({ name: n })),
      );
    case 'add':
      if (users.has(name)) {
        throw new VproxyError(
          'ERR_ALREADY_EXISTS',
          `socks5-server ${serverName} already has a socks5-user named ${name}`,
        );
      }
      users.set(name, cmd.values.password ?? '');
      break;
    case 'update':
    case 'remove':
    case 'force-remove':
      if (!users.has(name)) {
        throw new VproxyError(
          'ERR_NOT_FOUND',
          `socks5-server ${serverName} has no socks5-user named ${name}`,
        );
      }
      if (cmd.action === 'update') users.set(name, cmd.values.password ?? '');
      else users.delete(name);
      break;
    default:
      return unsupportedAction(cmd);
  }
  // Any user means username/password only (method 0x02); none means no authentication.
  entry.lb.auth = users.size > 0 ? entry.auth : 'none';
  return DONE;
}
