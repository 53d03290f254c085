import { expect } from 'vitest';
import { parseCommand } from '../../src/control/command/parse.js';
import { VproxyError } from '../../src/fd/errors.js';

/** The message of the ERR_COMMAND_INVALID that parsing `line` must throw (fails if it parses). */
export function parseError(line: string): string {
  try {
    parseCommand(line);
  } catch (err) {
    expect(err).toBeInstanceOf(VproxyError);
    expect(err).toMatchObject({ code: 'ERR_COMMAND_INVALID' });
    return (err as Error).message;
  }
  throw new Error(`"${line}" parsed`);
}
