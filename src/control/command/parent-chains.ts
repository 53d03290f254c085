import type { ActionRule } from './action-rules.js';
import type { ResourceType } from './keywords.js';

/**
 * Where a resource that is itself a parent lives: `in server X` needs
 * `in server-group G` after it, `in server-sock S` the listener. `man` and the
 * README print the whole chain so that every form they show runs as shown.
 */
export const LIVES_IN: Partial<Record<ResourceType, readonly ResourceType[]>> = {
  server: ['server-group'],
  'server-sock': ['tcp-lb', 'socks5-server'],
  connection: ['tcp-lb', 'socks5-server'],
};

/**
 * The parent chains of a rule as text (`connection <name> in tcp-lb|socks5-server <name>`):
 * places that live in the same parents share one chain, the others get their own.
 */
export function parentChains(rule: ActionRule): string[] {
  const byAncestors = new Map<string, string[]>();
  for (const place of rule.where) {
    if (place === 'top') continue;
    const above = LIVES_IN[place]?.join('|') ?? '';
    byAncestors.set(above, [...(byAncestors.get(above) ?? []), place]);
  }
  return [...byAncestors].map(
    ([above, places]) => `${places.join('|')} <name>${above === '' ? '' : ` in ${above} <name>`}`,
  );
}
