import type { CommandResult } from '../executor.js';

/** A result as the StdIO controller prints it: one item per line, `(done)` for a change. */
export function renderText(result: CommandResult): string {
  switch (result.kind) {
    case 'done':
      return '(done)';
    case 'number':
      return String(result.value);
    case 'text':
      return result.text;
    case 'lines':
      return result.lines.join('\n');
    case 'list':
      if (result.items.length === 0) return '(empty)';
      return result.items.map((i) => (typeof i === 'string' ? i : i.join(' -> '))).join('\n');
  }
}

/**
 * A result as JSON for the HTTP controller's command route: what RESP would
 * answer, and for list-detail also `records`, the objects the module routes answer.
 */
export function renderJson(result: CommandResult): Record<string, unknown> {
  switch (result.kind) {
    case 'done':
      return { ok: true };
    case 'number':
      return { value: result.value };
    case 'text':
      return { text: result.text };
    case 'lines':
      return { lines: result.lines };
    case 'list':
      return result.details === undefined
        ? { items: result.items }
        : { items: result.items, records: result.details.records };
  }
}
