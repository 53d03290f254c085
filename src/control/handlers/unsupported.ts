import type { Command } from '../command/parse.js';
import { ControlError } from '../errors.js';

/**
 * What a handler answers for an action it does not implement. The parser only
 * lets through what the model allows, so reaching this means the model and the
 * handler disagree; the command must fail, never fall through to another action
 * (a `default:` branch once treated any unknown action as remove).
 */
export function unsupportedAction(cmd: Command): never {
  throw new ControlError(
    'ERR_COMMAND_INVALID',
    `unsupported action ${cmd.action} for ${cmd.type}${cmd.location[0] ? ` in ${cmd.location[0].type}` : ''}`,
  );
}
