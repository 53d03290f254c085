import { ruleHost } from './host.js';
import type { HostPattern, Rule, RuleAction } from './pattern.js';

/**
 * Adblock Plus filter lists (gfwlist is one) reduced to what decides a proxy
 * route. Real ABP precedence is applied by RuleSet, not here: an exception
 * (`@@…`) that matches wins over every blocking rule that matches, wherever
 * each stands in the file. (The reference tried rules in file order, first
 * decisive one winning, with `@@` tests so loose almost anything matched.)
 *
 * Rule shapes and what they become (a proxy sees a host and a port, no path):
 *
 * | Rule                     | Pattern                                           |
 * |--------------------------|---------------------------------------------------|
 * | `||example.com^`, `||example.com`, `||example.com/x` | domain or subdomain, dot boundaries |
 * | `|http://example.com/x`  | exactly that host (any scheme's anchor)            |
 * | `.example.com`           | strict subdomains                                 |
 * | `example.com/x`, `example.com^` | host ends with `example.com` (ABP substring)  |
 * | `example`                | host contains `example` (ABP substring)            |
 * | `/re/`                   | regex on host, `http://host/`, `https://host/`     |
 * | with `*` in the host part | the same shape as a regex on the host, `*` = `.*` |
 * | `@@` + any of the above  | the same pattern, action direct                    |
 *
 * Skipped, with a reason: comments `!`, `[AutoProxy…]`/`[Adblock…]` headers,
 * element hiding (`##`), and rules that only constrain a URL path.
 */

export type AbpLine =
  | { readonly kind: 'rule'; readonly action: RuleAction; readonly pattern: HostPattern }
  | { readonly kind: 'skip'; readonly reason: string }
  | { readonly kind: 'comment' };

const OPTIONS = /\$(~?[\w-]+(?:=[^,]*)?(?:,~?[\w-]+(?:=[^,]*)?)*)$/;

/**
 * A wildcard host part as a regex body: everything literal but `*`. Wildcards
 * are matched against the host only, like every other rule here (a rule's
 * path, wildcards included, is dropped: a proxy never sees it).
 */
function wild(host: string): string {
  return host.replace(/[.+?^${}()|[\]\\/-]/g, '\\$&').replace(/\*+/g, '.*');
}

function hostRegex(body: string): HostPattern {
  return { kind: 'regex', regex: new RegExp(body, 'i'), scope: 'host' };
}

/** The host part of a rule body: up to the first '/', '^', ':' or '|' (a port or path follows). */
function hostPart(body: string): { host: string; terminated: boolean } {
  const m = /[/^:|]/.exec(body);
  if (!m) return { host: body.toLowerCase(), terminated: false };
  return { host: body.slice(0, m.index).toLowerCase(), terminated: true };
}

/** Parse one line of an ABP list. */
export function parseAbpLine(raw: string): AbpLine {
  let text = raw.trim();
  if (text.length === 0 || text.startsWith('!') || text.startsWith('[')) return { kind: 'comment' };
  if (/#[@?$]?#/.test(text)) return { kind: 'skip', reason: 'element hiding rule' };
  let action: RuleAction = 'proxy';
  if (text.startsWith('@@')) {
    action = 'direct';
    text = text.slice(2);
  }
  const isRegex = text.length >= 2 && text.startsWith('/') && text.endsWith('/');
  if (isRegex) {
    try {
      const regex = new RegExp(text.slice(1, -1), 'i');
      return { kind: 'rule', action, pattern: { kind: 'regex', regex, scope: 'url' } };
    } catch (err) {
      return { kind: 'skip', reason: `bad regular expression: ${(err as Error).message}` };
    }
  }
  // Request-type options ($image, $third-party, …) do not change where a host is routed.
  text = text.replace(OPTIONS, '');
  if (text.length === 0) return { kind: 'skip', reason: 'options without a filter' };
  if (text.startsWith('||')) {
    const { host } = hostPart(text.slice(2));
    if (host.length === 0) return { kind: 'skip', reason: 'no host after ||' };
    if (host.includes('*')) {
      return { kind: 'rule', action, pattern: hostRegex(`^(?:.*\\.)?${wild(trimDots(host))}$`) };
    }
    return {
      kind: 'rule',
      action,
      pattern: { kind: 'domain', domain: ruleHost(trimDots(host)).name },
    };
  }
  if (text.startsWith('|')) {
    const m = /^\|[a-z][a-z0-9+.-]*:\/\/(\[[^\]]*\]|[^/:^|?#]*)/i.exec(text);
    const host = m ? (m[1] as string).toLowerCase() : '';
    if (host.length === 0) return { kind: 'skip', reason: 'no host after the | anchor' };
    if (host.includes('*')) return { kind: 'rule', action, pattern: hostRegex(`^${wild(host)}$`) };
    return {
      kind: 'rule',
      action,
      pattern: { kind: 'exact', host: ruleHost(unbracket(host)).name },
    };
  }
  const { host, terminated } = hostPart(text.replace(/^[a-z][a-z0-9+.-]*:\/\//i, ''));
  if (host.length === 0) return { kind: 'skip', reason: 'matches URL paths only' };
  if (host.includes('*')) {
    const body = host.startsWith('.') && !terminated ? `\\.${wild(host.slice(1))}$` : wild(host);
    return { kind: 'rule', action, pattern: hostRegex(terminated ? `${body}$` : body) };
  }
  if (host.startsWith('.') && !terminated && host.length > 1) {
    return { kind: 'rule', action, pattern: { kind: 'subdomain', domain: trimDots(host) } };
  }
  if (terminated) return { kind: 'rule', action, pattern: { kind: 'ends-with', text: host } };
  return { kind: 'rule', action, pattern: { kind: 'contains', text: host } };
}

function trimDots(host: string): string {
  return host.replace(/^\.+|\.+$/g, '');
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** A parsed list: its rules, and the lines it could not use (for one log line, not a failure). */
export interface AbpList {
  readonly rules: readonly Rule[];
  readonly skipped: readonly {
    readonly line: number;
    readonly text: string;
    readonly reason: string;
  }[];
}

/**
 * Parse a whole list (plain or base64-wrapped, see decodeAbpText). A downloaded
 * list with a line we cannot use still loads; the line is reported in `skipped`.
 */
export function parseAbpList(text: string, source: string): AbpList {
  const rules: Rule[] = [];
  const skipped: { line: number; text: string; reason: string }[] = [];
  const lines = decodeAbpText(text).split(/\r?\n|\r/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const parsed = parseAbpLine(line);
    if (parsed.kind === 'rule') {
      rules.push({
        pattern: parsed.pattern,
        action: parsed.action,
        text: line.trim(),
        source,
        line: i + 1,
      });
    } else if (parsed.kind === 'skip') {
      skipped.push({ line: i + 1, text: line.trim(), reason: parsed.reason });
    }
  }
  return { rules, skipped };
}

const BASE64_TEXT = /^[A-Za-z0-9+/=\s]+$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * gfwlist is distributed base64-encoded (with line breaks); other lists are
 * plain text. A text made only of base64 characters is decoded when the result
 * is valid UTF-8 text without control characters; otherwise it is taken as it
 * is (so a plain list that happens to look like base64 still loads as plain).
 */
export function decodeAbpText(text: string): string {
  const trimmed = text.trim();
  if (!BASE64_TEXT.test(trimmed)) return text;
  const joined = trimmed.replace(/\s+/g, '');
  if (joined.length % 4 === 1 || /=[^=]/.test(joined)) return text;
  let decoded: string;
  try {
    decoded = utf8.decode(Buffer.from(joined, 'base64'));
  } catch {
    return text;
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this looks for
  return decoded.length > 0 && !/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(decoded) ? decoded : text;
}
