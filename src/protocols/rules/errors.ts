import { type ErrorCodeTable, VproxyError } from '../../fd/errors.js';

/** Codes of domain rules and ABP lists (src/protocols/rules). */
export const RULE_ERROR_CODES = {
  ERR_RULE_INVALID: 'a domain rule or ABP line that cannot be understood',
} as const satisfies ErrorCodeTable;

export type RuleErrorCode = keyof typeof RULE_ERROR_CODES;

/**
 * A rule that cannot be understood. `line` is its 1-based line in the list it
 * came from (0 when it stood alone); `text` is the rule as written.
 */
export class RuleError extends VproxyError<RuleErrorCode> {
  readonly line: number;
  readonly text: string;

  constructor(text: string, message: string, line = 0) {
    const shown = text.length > 60 ? `${text.slice(0, 60)}…` : text;
    super(
      'ERR_RULE_INVALID',
      `${line > 0 ? `line ${line}: ` : ''}rule ${JSON.stringify(shown)}: ${message}`,
    );
    this.name = 'RuleError';
    this.line = line;
    this.text = text;
  }
}
