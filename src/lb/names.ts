import { VproxyError } from '../fd/errors.js';

// Names end up in commands, config files and metric labels: keep them to
// visible characters without white space, so every one of those can carry them.
const NAME = /^[\x21-\x7e]{1,128}$/;

/** Throws ERR_NAME_INVALID unless `name` is 1-128 visible ASCII characters. */
export function checkName(kind: string, name: string): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new VproxyError(
      'ERR_NAME_INVALID',
      `invalid ${kind} name ${JSON.stringify(name)}: expected 1-128 visible ASCII characters without spaces`,
    );
  }
  return name;
}
