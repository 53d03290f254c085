import type { ActionRule } from './action-rules.js';
import { ACTIONS, type Action, FLAGS, type Keyword, PARAMS, TYPES } from './keywords.js';
import { parentChains } from './parent-chains.js';
import { RESOURCES } from './resources.js';

// The README's command reference, generated from the model that parses, so the
// docs cannot drift (a unit test compares the README with this output).

function spelled(k: Keyword): string {
  return k.short === undefined ? `\`${k.full}\`` : `\`${k.full}\` (\`${k.short}\`)`;
}

function unique<T>(map: ReadonlyMap<string, T>): T[] {
  return [...new Set(map.values())];
}

function forms(type: string, action: Action, rule: ActionRule): string[] {
  const isList = action === 'list' || action === 'list-detail';
  const prep =
    action === 'add' ? 'to' : action === 'remove' || action === 'force-remove' ? 'from' : 'in';
  const head = `${action} ${type}${isList ? '' : ' <name>'}`;
  let tail = '';
  for (const p of rule.params ?? []) {
    const def = p.default === undefined ? '' : `=${p.default}`;
    tail += p.required ? ` ${p.param} <v>` : ` [${p.param} <v${def}>]`;
  }
  for (const f of rule.flags ?? []) tail += ` [${f}]`;
  const chains = parentChains(rule);
  if (chains.length === 0) return [`\`${head}${tail}\``];
  return chains.map((chain) => `\`${head} ${prep} ${chain}${tail}\``);
}

export function commandReferenceMarkdown(): string {
  const out: string[] = [
    '```',
    '<action> <type> [<name>] [in <type> <name>]* [to|from <type> <name>] [<param> <value> | <flag>]*',
    '```',
    '',
    '| action | meaning |',
    '| --- | --- |',
    ...unique(ACTIONS).map((k) => `| ${spelled(k)} | ${k.description} |`),
    '',
    '| resource | forms |',
    '| --- | --- |',
  ];
  for (const type of unique(TYPES)) {
    const lines: string[] = [];
    for (const [action, rules] of Object.entries(RESOURCES[type.full]) as [
      Action,
      readonly ActionRule[],
    ][]) {
      for (const rule of rules) lines.push(...forms(type.full, action, rule));
    }
    out.push(`| ${spelled(type)}: ${type.description} | ${lines.join('<br>')} |`);
  }
  out.push(
    '',
    '| param | meaning |',
    '| --- | --- |',
    ...unique(PARAMS).map((k) => `| ${spelled(k)} | ${k.description} |`),
    '',
    '| flag | meaning |',
    '| --- | --- |',
    ...unique(FLAGS).map((k) => `| ${spelled(k)} | ${k.description} |`),
    '',
    'System commands: `help`, `man [topic [action]]`, `version`, `list config` (over RESP/HTTP with every',
    'password and address key (`key=`) shown as `******`, which no command accepts as either; every other',
    'listing over RESP/HTTP masks address keys too), `save <file>` (refuses a config',
    'that would not load: it is replayed against the resource names first; the refused text goes to',
    '`<file>.rejected`), `load <file>`,',
    '`shutdown` (StdIO only; save/load over RESP/HTTP only with `--allow-remote-file-commands`).',
    'A controller added without `password`/`token` uses the stored one (the answer names its file, never',
    'the secret); added over RESP/HTTP it listens on loopback only, password or not.',
    '',
    '`remove` and `force-remove` of a resource that another one uses are both refused with',
    '`ERR_IN_USE` naming the user (e.g. `upstream up1 is used by tcp-lb lb1`): nothing cascades, so no',
    'listener silently disappears and no saved config refers to a missing resource. Remove the users',
    'first. For sessions and connections `force-remove` closes them.',
  );
  return out.join('\n');
}
