import { type Address, formatAddress } from './address.js';
import { VproxyError } from './errors.js';
import type { Logger } from './logger.js';
import type { OptionSpec } from './transport.js';

/**
 * The options of one layer or transport of a stack (gost's `Init(md)` into a private
 * struct): the names it knows, and a parser from those names to a typed object. In a
 * stacked address each schema owns a prefix (`kcp.mode=`, `mux.window=`); a bare name is
 * accepted only where exactly one schema of the stack knows it.
 */
export interface OptionSchema<T extends object = object> {
  /** The prefix of its options in an address: the layer or transport name (`kcp`, `ws`). */
  readonly prefix: string;
  /** The names it knows, unprefixed. */
  readonly specs: readonly OptionSpec[];
  /**
   * Reads the options from `view`, a copy of the address whose `options` hold only this
   * schema's names, unprefixed (so a parser reads `window`, whatever the user wrote).
   * `kind` is the scheme from this layer down (`ws+tls+tcp` for the ws of `wss://`).
   * Throws ERR_OPTION_INVALID naming a bad value. The result is frozen by the caller.
   */
  parse(view: Address, kind: string): T;
  /**
   * Old spellings: name before namespacing → its name now (ws's `ws-mode` → `mode`).
   * Accepted bare, with a deprecation warning.
   */
  readonly renamed?: Readonly<Record<string, string>>;
  /**
   * Names this schema took with namespacing (ws's `mode`). Where another layer of a stack
   * knew the same name before (kcp's `mode`), a bare one keeps its old meaning, with a
   * deprecation warning, instead of being refused as ambiguous: saved addresses still load.
   */
  readonly newNames?: readonly string[];
}

/** One schema of a stack and the scheme from its layer down (`ws+tls+tcp`), its `kind`. */
export interface StackEntry {
  readonly schema: OptionSchema;
  readonly kind: string;
}

/** What is known of one Address object: each schema's parsed options, and the stacks checked. */
interface Parsed {
  readonly bySchema: Map<OptionSchema, object>;
  readonly checked: WeakSet<readonly StackEntry[]>;
}

/**
 * The one options cache: Address object → the parsed options of each schema. Backends are
 * dialled again and again with the same Address object, so each layer's options are parsed
 * once per address however many connects. Weak: an address forgotten is a cache entry gone.
 * Keyed by schema object, so two registries sharing an address share only what is the same.
 */
const cache = new WeakMap<Address, Parsed>();

function entryOf(address: Address): Parsed {
  let e = cache.get(address);
  if (e === undefined) {
    e = { bySchema: new Map(), checked: new WeakSet() };
    cache.set(address, e);
  }
  return e;
}

/**
 * Checks the options of `address` against `stack` (outermost first) and parses each
 * layer's, once: a second call with the same address object and stack does nothing. An
 * unknown name, a bare name two layers know (unless it is an old spelling, below) or a bad
 * value throws, naming it. Old spellings are warned about on `logger`, once per address.
 */
export function resolveStackOptions(
  address: Address,
  stack: readonly StackEntry[],
  logger?: Logger,
): void {
  const known = cache.get(address);
  if (known?.checked.has(stack)) return;
  const kinds = new Map<OptionSchema, string>();
  for (const e of stack) if (!kinds.has(e.schema)) kinds.set(e.schema, e.kind);
  const unique = [...kinds.keys()];
  const byPrefix = new Map(unique.map((s) => [s.prefix, s]));
  const owners = new Map<string, OptionSchema[]>();
  for (const s of unique) {
    for (const o of s.specs) owners.set(o.name, [...(owners.get(o.name) ?? []), s]);
  }
  const views = new Map<OptionSchema, Record<string, string>>(
    unique.map((s) => [s, Object.create(null) as Record<string, string>]),
  );
  const given = new Map<OptionSchema, Map<string, string>>();
  const put = (s: OptionSchema, name: string, value: string, written: string): void => {
    const seen = given.get(s) ?? new Map<string, string>();
    given.set(s, seen);
    const before = seen.get(name);
    if (before !== undefined) {
      throw new VproxyError(
        'ERR_OPTION_INVALID',
        `option ${s.prefix}.${name} is given twice (as "${before}" and "${written}") in ${formatAddress(address)}`,
      );
    }
    seen.set(name, written);
    (views.get(s) as Record<string, string>)[name] = value;
  };
  const deprecated = (written: string, s: OptionSchema, name: string, why: string): void => {
    logger?.warn('option-deprecated', {
      option: written,
      write: `${s.prefix}.${name}`,
      address: formatAddress(address),
      why,
    });
  };

  for (const [key, value] of Object.entries(address.options)) {
    const dot = key.indexOf('.');
    if (dot > 0) {
      const prefix = key.slice(0, dot);
      const name = key.slice(dot + 1);
      const s = byPrefix.get(prefix);
      if (s === undefined) {
        throw new VproxyError(
          'ERR_OPTION_UNKNOWN',
          `unknown option "${key}" in ${formatAddress(address)}: no layer "${prefix}" in ${address.scheme} (its layers: ${[...byPrefix.keys()].join(', ')})`,
        );
      }
      const canonical = s.renamed?.[name] ?? name;
      if (!s.specs.some((o) => o.name === canonical)) {
        throw new VproxyError(
          'ERR_OPTION_UNKNOWN',
          `unknown option "${key}" in ${formatAddress(address)}; ${prefix} takes: ${names(s)}`,
        );
      }
      put(s, canonical, value, key);
      continue;
    }
    const renamedBy = unique.find((s) => s.renamed?.[key] !== undefined);
    if (renamedBy !== undefined && !owners.has(key)) {
      const name = renamedBy.renamed?.[key] as string;
      deprecated(key, renamedBy, name, 'renamed');
      put(renamedBy, name, value, key);
      continue;
    }
    const knownBy = owners.get(key) ?? [];
    if (knownBy.length === 0) {
      const list = unique.flatMap((s) => s.specs.map((o) => o.name)).join(', ') || 'none';
      throw new VproxyError(
        'ERR_OPTION_UNKNOWN',
        `unknown option "${key}" in ${formatAddress(address)}; ${address.scheme} takes: ${list}`,
      );
    }
    if (knownBy.length === 1) {
      put(knownBy[0] as OptionSchema, key, value, key);
      continue;
    }
    const old = knownBy.filter((s) => !(s.newNames ?? []).includes(key));
    if (old.length === 1) {
      const s = old[0] as OptionSchema;
      deprecated(key, s, key, `ambiguous: also known by ${otherNames(knownBy, s)}`);
      put(s, key, value, key);
      continue;
    }
    throw ambiguous(key, knownBy, address);
  }

  const parsed = new Map<OptionSchema, object>();
  for (const s of unique) {
    const view: Address = { ...address, options: Object.freeze(views.get(s) ?? {}) };
    parsed.set(s, Object.freeze(s.parse(view, kinds.get(s) ?? address.scheme)));
  }
  // Stored only once every layer parsed: a bad address leaves nothing half-cached.
  const entry = entryOf(address);
  for (const [s, value] of parsed) entry.bySchema.set(s, value);
  entry.checked.add(stack);
}

/** An ambiguous bare name: the error names every layer that knows it. */
function ambiguous(key: string, knownBy: readonly OptionSchema[], address: Address): VproxyError {
  const prefixes = knownBy.map((s) => s.prefix);
  const both =
    prefixes.length === 2
      ? prefixes.join(' and ')
      : `${prefixes.slice(0, -1).join(', ')} and ${prefixes.at(-1)}`;
  return new VproxyError(
    'ERR_OPTION_AMBIGUOUS',
    `option "${key}" of ${formatAddress(address)} is known by ${both}: write ${prefixes.map((p) => `${p}.${key}`).join(' or ')}`,
  );
}

function names(s: OptionSchema): string {
  return s.specs.map((o) => o.name).join(', ') || 'none';
}

function otherNames(all: readonly OptionSchema[], s: OptionSchema): string {
  return all
    .filter((o) => o !== s)
    .map((o) => o.prefix)
    .join(', ');
}

/**
 * The parsed options of `schema` for `address`. An address resolved by a registry has
 * them already; one handed straight to a transport is parsed here, once, from the names
 * this schema knows, bare or with its prefix (the others belong to the layers around it).
 */
export function layerOptions<T extends object>(
  address: Address,
  schema: OptionSchema<T>,
  kind: string = address.scheme,
): T {
  const hit = cache.get(address)?.bySchema.get(schema as OptionSchema);
  if (hit !== undefined) return hit as T;
  const view: Record<string, string> = Object.create(null);
  const names = new Set(schema.specs.map((o) => o.name));
  for (const [key, value] of Object.entries(address.options)) {
    const bare = key.startsWith(`${schema.prefix}.`) ? key.slice(schema.prefix.length + 1) : key;
    const name = schema.renamed?.[bare] ?? bare;
    // A prefixed name wins over a bare one.
    if (names.has(name) && !(name in view && bare === key)) view[name] = value;
  }
  const parsed = Object.freeze(schema.parse({ ...address, options: Object.freeze(view) }, kind));
  entryOf(address).bySchema.set(schema as OptionSchema, parsed);
  return parsed;
}

/** For a layer or transport that declares no schema: its names, parsed as the strings they are. */
export function plainSchema(prefix: string, specs: readonly OptionSpec[]): OptionSchema {
  return { prefix, specs, parse: (view) => ({ ...view.options }) };
}
