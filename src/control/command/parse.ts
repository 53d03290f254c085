import { ControlError } from '../errors.js';
import type { ActionRule } from './action-rules.js';
import {
  ACTIONS,
  type Action,
  FLAGS,
  type Flag,
  PARAMS,
  type Param,
  type Preposition,
  RESERVED,
  type ResourceType,
  SECRET_MASK,
  SECRET_PARAMS,
  TYPES,
} from './keywords.js';
import { NAME_CHECKS, RESOURCES } from './resources.js';
import { typedValues, type Values } from './typed.js';
import { name as checkName } from './values.js';

export interface ResourceRef {
  readonly type: ResourceType;
  readonly name: string;
}

/** A parsed and validated command. */
export interface Command {
  readonly action: Action;
  readonly type: ResourceType;
  /** Absent for list / list-detail. */
  readonly name: string | undefined;
  /** Where the resource is, direct parent first: the `in` chain, or the `to` / `from` chain. */
  readonly location: readonly ResourceRef[];
  readonly preposition: Preposition | undefined;
  /** The params as written (what a saved config repeats). */
  readonly params: Readonly<Partial<Record<Param, string>>>;
  /** The params parsed once into typed values, with the rule's defaults for `add`. */
  readonly values: Values;
  readonly flags: readonly Flag[];
  /** The model rule that matched. */
  readonly rule: ActionRule;
}

const MAX_LINE = 4096;

function fail(message: string): never {
  throw new ControlError('ERR_COMMAND_INVALID', message);
}

const GERUND: Record<Action, string> = {
  add: 'adding',
  list: 'listing',
  'list-detail': 'listing',
  update: 'updating',
  remove: 'removing',
  'force-remove': 'force-removing',
};

function split(line: string): string[] {
  return line
    .trim()
    .split(/ +/)
    .filter((t) => t.length > 0);
}

/**
 * The tokens that may hold a secret, with the param they belong to: every
 * token after a secret param up to the next param or flag (a password with a
 * space becomes two tokens, and neither may be shown).
 */
function secretTokens(tokens: readonly string[]): ReadonlyMap<number, Param> {
  const secret = new Map<number, Param>();
  let owner: Param | undefined;
  tokens.forEach((t, i) => {
    const param = PARAMS.get(t);
    if (param !== undefined || FLAGS.has(t))
      owner = param !== undefined && SECRET_PARAMS.has(param.full) ? param.full : undefined;
    else if (owner !== undefined) secret.set(i, owner);
  });
  return secret;
}

/** The line with secret values masked, for echoing a failed command (the StdIO prompt). */
export function redactSecrets(line: string): string {
  const tokens = split(line);
  const secret = new Map(secretTokens(tokens));
  return tokens.map((t, i) => (secret.has(i) ? SECRET_MASK : t)).join(' ');
}

const NO_QUOTING = 'the command language has no quoting, so a value cannot contain spaces';

/** Whether `text` is one token of a command line: printable ASCII, no spaces. */
export function isToken(text: string): boolean {
  return /^[\x21-\x7e]+$/.test(text);
}

/** Tokens are separated by runs of spaces; there is no quoting. */
function tokenize(line: string): { tokens: string[]; secret: ReadonlyMap<number, Param> } {
  if (line.length > MAX_LINE) fail(`command is longer than ${MAX_LINE} characters`);
  const tokens = split(line);
  const secret = secretTokens(tokens);
  tokens.forEach((t, i) => {
    if (isToken(t)) return;
    const owner = secret.get(i);
    if (owner !== undefined) fail(`invalid ${owner}: only printable ASCII without spaces`);
    fail(`${JSON.stringify(t)} is invalid: only printable ASCII without spaces`);
  });
  return { tokens, secret };
}

class Cursor {
  #i = 0;
  constructor(readonly tokens: readonly string[]) {}
  /** Where the next token is. */
  get at(): number {
    return this.#i;
  }
  peek(): string | undefined {
    return this.tokens[this.#i];
  }
  next(what: string): string {
    const t = this.tokens[this.#i++];
    if (t === undefined) fail(`unexpected end: expected ${what}`);
    return t;
  }
}

function readType(c: Cursor): ResourceType {
  const t = c.next('a resource type');
  const k = TYPES.get(t);
  if (!k) fail(`${t} is not a valid resource type`);
  return k.full;
}

function readName(c: Cursor, of: ResourceType): string {
  const t = c.next(`the name of the ${of}`);
  if (RESERVED.has(t)) fail(`${t} is a key word, not a name (the name of the ${of} is missing?)`);
  const bad = (NAME_CHECKS[of] ?? checkName)(t);
  if (bad) fail(`invalid name ${t}: ${bad}`);
  return t;
}

function readChain(c: Cursor): ResourceRef[] {
  const chain: ResourceRef[] = [];
  while (c.peek() === 'in') {
    c.next('in');
    const type = readType(c);
    chain.push({ type, name: readName(c, type) });
  }
  return chain;
}

/** Parse and validate one command line against the resource model. */
export function parseCommand(line: string): Command {
  const { tokens, secret } = tokenize(line);
  const c = new Cursor(tokens);
  const actionToken = c.next('an action');
  const actionKey = ACTIONS.get(actionToken);
  if (!actionKey) fail(`${actionToken} is not a valid action`);
  const action = actionKey.full;
  const type = readType(c);
  const isList = action === 'list' || action === 'list-detail';

  let name: string | undefined;
  if (isList) {
    const t = c.peek();
    if (t !== undefined && !RESERVED.has(t))
      fail(`cannot specify resource name when listing the resource (${t})`);
  } else {
    if (c.peek() === undefined)
      fail(`resource name not specified when ${GERUND[action]} the resource`);
    name = readName(c, type);
  }

  const inChain = readChain(c);
  let preposition: Preposition | undefined;
  let prepChain: ResourceRef[] = [];
  const p = c.peek();
  if (p === 'to' || p === 'from') {
    c.next(p);
    preposition = p;
    const targetType = readType(c);
    prepChain = [{ type: targetType, name: readName(c, targetType) }, ...readChain(c)];
  }

  const params: Partial<Record<Param, string>> = {};
  const flags: Flag[] = [];
  for (let t = c.peek(); t !== undefined; t = c.peek()) {
    const owner = secret.get(c.at);
    if (owner !== undefined) fail(`invalid ${owner}: ${NO_QUOTING}`);
    c.next('a param or flag');
    const param = PARAMS.get(t);
    if (param) {
      if (params[param.full] !== undefined) fail(`param ${param.full} is given twice`);
      const value = c.next(`a value for ${param.full}`);
      if (RESERVED.has(value) && SECRET_PARAMS.has(param.full))
        fail(`invalid ${param.full}: a key word of the command language (or the value is missing)`);
      if (RESERVED.has(value))
        fail(`${value} is a key word, not a value (the value of ${param.full} is missing?)`);
      params[param.full] = value;
      continue;
    }
    const flag = FLAGS.get(t);
    if (flag) {
      if (!flags.includes(flag.full)) flags.push(flag.full);
      continue;
    }
    if (t === 'in' || t === 'to' || t === 'from')
      fail(`invalid syntax near ${t}: "${t}" must come before params and flags`);
    fail(`${t} is not a valid param or flag`);
  }

  // Placement rules of the grammar (core spec §7.1).
  if (isList && preposition) fail('cannot specify preposition when action is list or list-detail');
  if (action === 'add' && preposition === 'from') fail(`cannot use from when adding ${type}`);
  if ((action === 'remove' || action === 'force-remove') && preposition === 'to') {
    fail(`cannot use to when ${GERUND[action]} ${type}`);
  }
  if (action === 'update' && preposition) fail(`cannot use ${preposition} when updating ${type}`);
  if (preposition && inChain.length > 0) {
    fail(
      `cannot specify parent resource when ${GERUND[action]} ${type}: put the parent after "${preposition}"`,
    );
  }
  if ((action === 'add' || action === 'remove') && inChain.length > 0) {
    fail(
      `cannot specify parent resource when ${GERUND[action]} ${type}: use "${action === 'add' ? 'to' : 'from'}"`,
    );
  }
  const location = preposition ? prepChain : inChain;

  const rules = RESOURCES[type][action];
  if (!rules) fail(`unsupported action ${action} for ${type}`);
  const where = location[0]?.type ?? 'top';
  const rule = rules.find((r) => r.where.includes(where));
  if (!rule) {
    const places = rules.flatMap((r) => r.where).join(' or ');
    if (where === 'top') fail(`cannot find ${type} on top level: it is in ${places}`);
    fail(`${where} does not contain ${type} (it is in ${places})`);
  }
  checkParams(action, type, rule, params, flags);
  const values = typedValues(action, rule, params);
  return { action, type, name, location, preposition, params, values, flags, rule };
}

function checkParams(
  action: Action,
  type: ResourceType,
  rule: ActionRule,
  params: Partial<Record<Param, string>>,
  flags: readonly Flag[],
): void {
  const allowed = rule.params ?? [];
  for (const key of Object.keys(params) as Param[]) {
    if (!allowed.some((r) => r.param === key))
      fail(`${key} is not a valid param when ${GERUND[action]} ${type}`);
  }
  for (const f of flags) {
    if (!(rule.flags ?? []).includes(f))
      fail(`${f} is not a valid flag when ${GERUND[action]} ${type}`);
  }
  if (flags.includes('allow-non-backend') && flags.includes('deny-non-backend')) {
    fail('both allow-non-backend and deny-non-backend set');
  }
  if (flags.includes('allow-udp') && flags.includes('deny-udp')) {
    fail('both allow-udp and deny-udp set');
  }
  for (const r of allowed) {
    const value = params[r.param];
    if (value === undefined) {
      if (r.required) fail(`missing argument ${r.param}`);
      continue;
    }
    const bad = r.check(value);
    if (bad)
      fail(
        SECRET_PARAMS.has(r.param)
          ? `invalid ${r.param}: ${bad}`
          : `invalid ${r.param} ${value}: ${bad}`,
      );
  }
  if (rule.oneOf) {
    const given = rule.oneOf.filter((p) => params[p] !== undefined);
    if (given.length !== 1) fail(`give exactly one of ${rule.oneOf.join(', ')}`);
  }
  if (rule.together) {
    const given = rule.together.filter((p) => params[p] !== undefined);
    if (given.length > 0 && given.length < rule.together.length) {
      fail(`invalid health check config: ${rule.together.join(', ')} go together`);
    }
  }
}

/** The canonical (full-spelling) text of a command; `parseCommand(formatCommand(c))` equals `c`. */
export function formatCommand(cmd: Command): string {
  const parts: string[] = [cmd.action, cmd.type];
  if (cmd.name !== undefined) parts.push(cmd.name);
  const chain = cmd.location.map((r) => `${r.type} ${r.name}`);
  if (cmd.preposition) {
    parts.push(cmd.preposition, chain[0] ?? '', ...chain.slice(1).map((c) => `in ${c}`));
  } else {
    parts.push(...chain.map((c) => `in ${c}`));
  }
  for (const r of cmd.rule.params ?? []) {
    const v = cmd.params[r.param];
    if (v !== undefined) parts.push(r.param, v);
  }
  parts.push(...cmd.flags);
  return parts.join(' ');
}
