import type { AbpList } from './abp.js';
import type { DomainEntry } from './domain-entry.js';
import { RuleError } from './errors.js';
import { type RuleHost, ruleHost } from './host.js';
import { HostIndex } from './host-index.js';
import type { Rule, RuleAction } from './pattern.js';

/** A decision and the rule that made it (null when the fallback decided). */
export interface Verdict {
  readonly action: RuleAction;
  readonly rule: Rule | null;
}

export interface RuleSetOptions {
  /**
   * The answer when no rule matches: 'proxy', 'direct', or null for "no
   * match" (the router then tries the next list). The reference created ABP
   * lists "block by default", i.e. 'proxy'; the default here is null, so a
   * gfwlist proxies what it lists and nothing else.
   */
  readonly fallback?: RuleAction | null;
}

/**
 * One domain list compiled: plain entries and ABP lists together, with ABP
 * precedence over the whole set — if any exception (`@@…`) matches, the answer
 * is direct; else if any rule matches, proxy; else the fallback. Order within
 * the list never matters, so neither does the order of lookups in the index.
 */
export class RuleSet {
  readonly #exceptions = new HostIndex<Rule>();
  readonly #blocks = new HostIndex<Rule>();
  readonly fallback: RuleAction | null;
  readonly #rules: Rule[] = [];

  constructor(rules: Iterable<Rule>, options: RuleSetOptions = {}) {
    this.fallback = options.fallback ?? null;
    for (const rule of rules) {
      this.#rules.push(rule);
      (rule.action === 'direct' ? this.#exceptions : this.#blocks).add(rule.pattern, rule);
    }
  }

  /** Every rule, in the order given (for the PAC generator and for listing). */
  get rules(): readonly Rule[] {
    return this.#rules;
  }

  /** Blocking rules' index and exceptions' index (read-only use: the PAC generator). */
  get indexes(): { readonly blocks: HostIndex<Rule>; readonly exceptions: HostIndex<Rule> } {
    return { blocks: this.#blocks, exceptions: this.#exceptions };
  }

  /** The verdict for a target, or null when nothing matched and there is no fallback. */
  match(host: string, port: number): Verdict | null {
    return this.matchHost(ruleHost(host), port);
  }

  /** `match` for a host already normalised (the router normalises once for all its lists). */
  matchHost(h: RuleHost, port: number): Verdict | null {
    const exception = this.#exceptions.find(h, port);
    if (exception) return { action: 'direct', rule: exception };
    const block = this.#blocks.find(h, port);
    if (block) return { action: 'proxy', rule: block };
    return this.fallback === null ? null : { action: this.fallback, rule: null };
  }
}

/**
 * Rules from a domain list's entries. `[file]` entries are looked up in
 * `files` (already read and parsed by the caller, keyed by the path as
 * written); a missing one is a RuleError. Plain entries are proxy rules.
 */
export function rulesFromEntries(
  entries: readonly { readonly entry: DomainEntry; readonly line: number }[],
  source: string,
  files: ReadonlyMap<string, AbpList> = new Map(),
): Rule[] {
  const out: Rule[] = [];
  for (const { entry, line } of entries) {
    if (entry.kind === 'abp-file') {
      const list = files.get(entry.path);
      if (!list) throw new RuleError(entry.text, `ABP file ${entry.path} was not loaded`, line);
      out.push(...list.rules);
    } else {
      out.push({ pattern: entry.pattern, action: 'proxy', text: entry.text, source, line });
    }
  }
  return out;
}
