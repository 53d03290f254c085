import type { ActionRule } from './action-rules.js';
import { ACTIONS, type Action, FLAGS, type Keyword, PARAMS, TYPES } from './keywords.js';
import { parentChains } from './parent-chains.js';
import { RESOURCES } from './resources.js';

// Help and manual pages are generated from the same tables the parser reads.

function spell(k: Keyword): string {
  return k.short === undefined ? k.full : `${k.full} (${k.short})`;
}

function unique<T>(map: ReadonlyMap<string, T>): T[] {
  return [...new Set(map.values())];
}

function prepositionOf(action: Action): string {
  return action === 'add' ? 'to' : action === 'remove' || action === 'force-remove' ? 'from' : 'in';
}

/** One usage line per parent chain (a top-level rule has one, without a chain). */
function usage(type: string, action: Action, rule: ActionRule): string[] {
  const isList = action === 'list' || action === 'list-detail';
  let tail = '';
  for (const p of rule.params ?? []) {
    const text = `${p.param} <${p.param}>`;
    tail += p.required ? ` ${text}` : ` [${text}]`;
  }
  for (const f of rule.flags ?? []) tail += ` [${f}]`;
  const head = `${action} ${type}${isList ? '' : ' <name>'}`;
  const chains = parentChains(rule);
  if (chains.length === 0) return [`${head}${tail}`];
  return chains.map((chain) => `${head} ${prepositionOf(action)} ${chain}${tail}`);
}

/** The `help` text: grammar, then every keyword with its short form. */
export function helpLines(): string[] {
  return [
    'vproxy command language:',
    '  <action> <type> [<name>] [in <type> <name>]* [to|from <type> <name>] [<param> <value> | <flag>]*',
    'actions:',
    ...unique(ACTIONS).map((k) => `  ${spell(k)}: ${k.description}`),
    'resource types:',
    ...unique(TYPES).map((k) => `  ${spell(k)}: ${k.description}`),
    'params:',
    ...unique(PARAMS).map((k) => `  ${spell(k)}: ${k.description}`),
    'flags:',
    ...unique(FLAGS).map((k) => `  ${spell(k)}: ${k.description}`),
    'system commands: help, man [topic], version, list config, save <file>, load <file>, shutdown',
    'man <type> [<action>] shows what a resource takes; man add-to / man remove-from explain attaching',
  ];
}

/** `man topic [action]`; an unknown topic gives "No manual entry for X". */
export function manLines(topic?: string, sub?: string): string[] {
  if (topic === undefined) return helpLines();
  if (topic === 'add-to') {
    return [
      'add <type> <name> to <parent-type> <parent-name> [params]: create a resource inside a parent',
      ...manForm('add', (r) => r.where.some((w) => w !== 'top')),
    ];
  }
  if (topic === 'remove-from') {
    return [
      'remove <type> <name> from <parent-type> <parent-name>: remove or detach a resource from a parent',
      ...manForm('remove', (r) => r.where.some((w) => w !== 'top')),
    ];
  }
  const type = TYPES.get(topic);
  if (type) {
    const rules = RESOURCES[type.full];
    const actions = (Object.keys(rules) as Action[]).filter(
      (a) => sub === undefined || ACTIONS.get(sub)?.full === a,
    );
    if (actions.length === 0) return [`No manual entry for ${topic} ${sub ?? ''}`.trim()];
    const lines = [`${spell(type)}: ${type.description}`];
    for (const a of actions) {
      for (const rule of rules[a] ?? []) {
        lines.push(...usage(type.full, a, rule).map((u) => `  ${u}`), `      ${rule.description}`);
        for (const p of rule.params ?? []) {
          const def = p.default === undefined ? '' : ` (default ${p.default})`;
          lines.push(
            `      ${p.param}${p.required ? ' (required)' : ''}${def}: ${PARAMS.get(p.param)?.description ?? ''}`,
          );
        }
        if (rule.oneOf) lines.push(`      exactly one of: ${rule.oneOf.join(', ')}`);
      }
    }
    return lines;
  }
  const action = ACTIONS.get(topic);
  if (action) {
    return [`${spell(action)}: ${action.description}`, ...manForm(action.full, () => true)];
  }
  const param = PARAMS.get(topic);
  if (param) return [`param ${spell(param)}: ${param.description}`];
  const flag = FLAGS.get(topic);
  if (flag) return [`flag ${spell(flag)}: ${flag.description}`];
  return [`No manual entry for ${topic}`];
}

function manForm(action: Action, keep: (r: ActionRule) => boolean): string[] {
  const lines: string[] = [];
  for (const type of unique(TYPES)) {
    for (const rule of RESOURCES[type.full][action] ?? []) {
      if (keep(rule)) lines.push(...usage(type.full, action, rule).map((u) => `  ${u}`));
    }
  }
  return lines;
}
