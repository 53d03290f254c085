import { VproxyError } from '../../fd/errors.js';

/**
 * A rule that cannot be understood. `line` is its 1-based line in the list it
 * came from (0 when it stood alone); `text` is the rule as written.
 */
export class RuleError extends VproxyError {
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
