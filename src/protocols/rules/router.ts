import { ruleHost } from './host.js';
import type { Rule } from './pattern.js';
import type { RuleSet } from './rule-set.js';

/** The symbol of the list tried last (§4.5). */
export const DEFAULT_SYMBOL = 'DEFAULT';

/** Where a target goes: through a server group (by symbol), or directly. */
export type Route =
  | { readonly action: 'proxy'; readonly symbol: string; readonly rule: Rule | null }
  | { readonly action: 'direct'; readonly rule: Rule | null };

export interface RouterOptions {
  /** For targets no list decides: 'direct' (the reference), or a symbol to proxy through. */
  readonly otherwise?: 'direct' | { readonly proxy: string };
}

/**
 * §4.5 routing over named lists: each list is asked in turn, `DEFAULT` last;
 * the first list with a verdict decides — proxy through its symbol's servers,
 * or direct (an exception is decisive: a site a list exempts is not handed to
 * the next list). Lists other than DEFAULT are asked in the order given (the
 * reference left that order unspecified).
 */
export class Router {
  readonly lists: readonly { readonly symbol: string; readonly rules: RuleSet }[];
  readonly otherwise: 'direct' | { readonly proxy: string };

  constructor(
    lists: Iterable<{ readonly symbol: string; readonly rules: RuleSet }>,
    options: RouterOptions = {},
  ) {
    const all = [...lists];
    this.lists = Object.freeze([
      ...all.filter((l) => l.symbol !== DEFAULT_SYMBOL),
      ...all.filter((l) => l.symbol === DEFAULT_SYMBOL),
    ]);
    this.otherwise = options.otherwise ?? 'direct';
  }

  route(host: string, port: number): Route {
    const h = ruleHost(host);
    for (const { symbol, rules } of this.lists) {
      const verdict = rules.matchHost(h, port);
      if (verdict === null) continue;
      if (verdict.action === 'direct') return { action: 'direct', rule: verdict.rule };
      return { action: 'proxy', symbol, rule: verdict.rule };
    }
    const o = this.otherwise;
    return o === 'direct'
      ? { action: 'direct', rule: null }
      : { action: 'proxy', symbol: o.proxy, rule: null };
  }
}
