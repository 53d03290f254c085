import { resolve } from 'node:path';
import { formatAddress, parseAddress } from '../fd/address.js';
import { isVproxyError } from '../fd/errors.js';
import type { Param } from './command/keywords.js';
import { type Command, parseCommand } from './command/parse.js';
import { RESOURCES } from './command/resources.js';
import { referencesOf } from './config.js';
import { ControlError } from './errors.js';

// SIGHUP: apply a config file as a diff against the running state, so that
// what did not change keeps running (a listener keeps its connections).

/** Why a step runs. */
export type ChangeKind = 'added' | 'removed' | 'updated' | 'replaced';

export interface ReloadStep {
  readonly kind: ChangeKind;
  /** The command that makes the change (a remove, add or update line). */
  readonly line: string;
}

/** A config line understood: its identity, and its params with defaults filled in. */
interface Item {
  readonly key: string;
  readonly cmd: Command;
  readonly line: string;
  readonly params: Readonly<Partial<Record<Param, string>>>;
  readonly flags: readonly string[];
}

const refKey = (type: string, name: string) => `${type} ${name}`;

/** The identity of what a line creates: its parents, then itself (`upstream u / server-group g`). */
function keyOf(cmd: Command): string {
  const where = [...cmd.location].reverse().map((r) => `${refKey(r.type, r.name)} / `);
  return `${where.join('')}${refKey(cmd.type, cmd.name ?? '')}`;
}

function itemOf(line: string, at: string): Item {
  let cmd: Command;
  try {
    cmd = parseCommand(line);
  } catch (err) {
    throw new ControlError('ERR_CONFIG_INVALID', `${at}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (cmd.action !== 'add' || cmd.name === undefined) {
    throw new ControlError(
      'ERR_CONFIG_INVALID',
      `${at}: a reload applies a config of add commands (as save writes it), not ${cmd.action}`,
    );
  }
  // Defaults filled in, so `timeout 900000` and no timeout are the same config.
  const params: Partial<Record<Param, string>> = {};
  for (const r of cmd.rule.params ?? []) {
    const v = cmd.params[r.param] ?? r.default;
    if (v !== undefined) params[r.param] = v;
  }
  // `127.0.0.1:80` and `tcp://127.0.0.1:80` are one address (servers list the latter).
  if (params.address !== undefined) {
    try {
      params.address = formatAddress(parseAddress(params.address));
    } catch {
      // Left as written: the parser accepted it, the command will say what is wrong.
    }
  }
  // cert-key paths are stored resolved against the daemon's directory.
  if (cmd.type === 'cert-key') {
    if (params.cert !== undefined)
      params.cert = params.cert
        .split(',')
        .map((p) => resolve(p))
        .join(',');
    if (params.key !== undefined) params.key = resolve(params.key);
  }
  // socks5-server's flags normalised (defaults spelled out), so that dropping a flag
  // from the file is seen as a change to its default.
  const flags =
    cmd.type === 'socks5-server'
      ? [
          cmd.flags.includes('allow-non-backend') ? 'allow-non-backend' : 'deny-non-backend',
          cmd.flags.includes('allow-udp') ? 'allow-udp' : 'deny-udp',
        ]
      : [...cmd.flags];
  return { key: keyOf(cmd), cmd, line, params, flags };
}

function items(lines: readonly string[], source: string): Item[] {
  const out: Item[] = [];
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line.length > 0 && !line.startsWith('#')) out.push(itemOf(line, `${source}:${i + 1}`));
  });
  return out;
}

function sameFlags(a: Item, b: Item): boolean {
  return a.flags.join(' ') === b.flags.join(' ');
}

/** The params that differ between two versions of one resource. */
function differing(a: Item, b: Item): Param[] {
  const keys = new Set([...Object.keys(a.params), ...Object.keys(b.params)] as Param[]);
  return [...keys].filter((k) => a.params[k] !== b.params[k]);
}

/** The `update` line that turns `was` into `now`, or undefined when an update cannot. */
function updateLine(was: Item, now: Item): string | undefined {
  const place = now.cmd.location[0]?.type ?? 'top';
  const rule = (RESOURCES[now.cmd.type].update ?? []).find((r) => r.where.includes(place));
  if (rule === undefined) return undefined;
  const allowed = new Set((rule.params ?? []).map((p) => p.param));
  if (!differing(was, now).every((p) => allowed.has(p))) return undefined;
  if (!sameFlags(was, now) && (rule.flags ?? []).length === 0) return undefined;
  let line = `update ${now.cmd.type} ${now.cmd.name}`;
  for (const r of now.cmd.location) line += ` in ${r.type} ${r.name}`;
  for (const p of rule.params ?? []) {
    const v = now.params[p.param];
    if (v !== undefined) line += ` ${p.param} ${v}`;
  }
  if ((rule.flags ?? []).length > 0) line += ` ${now.flags.join(' ')}`;
  return line;
}

function removeLine(item: Item): string {
  const { cmd } = item;
  const [parent, ...above] = cmd.location;
  let line = `remove ${cmd.type} ${cmd.name}`;
  if (parent) line += ` from ${parent.type} ${parent.name}`;
  for (const r of above) line += ` in ${r.type} ${r.name}`;
  return line;
}

/**
 * The steps from the running config (`list config` lines) to the file's, in an
 * order that works: replaced resources (and whatever refers to them) go first,
 * newest first; then what was removed; then adds in the file's order; then
 * updates in place. Unchanged lines are not touched.
 */
export function planReload(
  current: readonly string[],
  next: readonly string[],
  file: string,
): ReloadStep[] {
  const cur = items(current, '(running config)');
  const nxt = items(next, file);
  const curByKey = new Map(cur.map((i) => [i.key, i]));
  const nxtByKey = new Map(nxt.map((i) => [i.key, i]));
  const replaced = new Set<string>();
  const updates = new Map<string, string>();
  for (const now of nxt) {
    const was = curByKey.get(now.key);
    if (was === undefined || (differing(was, now).length === 0 && sameFlags(was, now))) continue;
    const update = updateLine(was, now);
    if (update === undefined) replaced.add(now.key);
    else updates.set(now.key, update);
  }
  // Whatever refers to a replaced resource (its children, its users) must be
  // replaced with it: it cannot be removed while used, nor keep a stale object.
  for (let grew = true; grew; ) {
    grew = false;
    for (const item of cur) {
      if (replaced.has(item.key) || !nxtByKey.has(item.key)) continue;
      if (referencesOf(item.cmd).some((r) => replaced.has(refKey(r.type, r.name)))) {
        replaced.add(item.key);
        updates.delete(item.key);
        grew = true;
      }
    }
  }
  const steps: ReloadStep[] = [];
  const newestFirst = [...cur].reverse();
  for (const item of newestFirst)
    if (replaced.has(item.key)) steps.push({ kind: 'replaced', line: removeLine(item) });
  for (const item of newestFirst)
    if (!nxtByKey.has(item.key)) steps.push({ kind: 'removed', line: removeLine(item) });
  for (const item of nxt) {
    if (!curByKey.has(item.key)) steps.push({ kind: 'added', line: item.line });
    else if (replaced.has(item.key)) steps.push({ kind: 'replaced', line: item.line });
  }
  for (const line of updates.values()) steps.push({ kind: 'updated', line });
  return steps;
}

export interface StepOutcome extends ReloadStep {
  /** The error when the step failed (the reload goes on with the other steps). */
  readonly error?: Error;
}

/**
 * Run the steps. A removal refused because something still uses the resource
 * (`ERR_IN_USE`) is tried again at the end: an update in the same reload may
 * have moved that user elsewhere (a tcp-lb switching security groups).
 */
export async function applyReload(
  steps: readonly ReloadStep[],
  run: (line: string) => Promise<unknown>,
): Promise<StepOutcome[]> {
  const outcomes: StepOutcome[] = [];
  const retry: ReloadStep[] = [];
  for (const step of steps) {
    try {
      await run(step.line);
      outcomes.push(step);
    } catch (err) {
      if (step.kind === 'removed' && isVproxyError(err, 'ERR_IN_USE')) retry.push(step);
      else outcomes.push({ ...step, error: err as Error });
    }
  }
  for (const step of retry) {
    try {
      await run(step.line);
      outcomes.push(step);
    } catch (err) {
      outcomes.push({ ...step, error: err as Error });
    }
  }
  return outcomes;
}
