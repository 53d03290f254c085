import { expect } from 'vitest';
import { parseCommand } from '../../src/control/command/parse.js';
import type { CommandResult } from '../../src/control/executor.js';
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

/** The lines of a command result (fails unless it is a `lines` result). */
export function lines(r: CommandResult): readonly string[] {
  if (r.kind !== 'lines') throw new Error(`expected lines, got ${r.kind}`);
  return r.lines;
}
