import { type CheckSpec, parseCheckSpec } from '../../lb/health-config.js';
import { type MethodName, parseMethod } from '../../lb/selection-method.js';
import { ControlError } from '../errors.js';
import type { ActionRule } from './action-rules.js';
import type { Action, Param } from './keywords.js';

/**
 * Each parameter's value once parsed: the parser checks the text (values.ts),
 * then turns it into this, once; handlers read these and never re-parse text
 * or repeat a default.
 */
export interface ParamValues {
  readonly timeout: number;
  readonly 'fin-timeout': number;
  readonly retries: number;
  readonly 'access-log': boolean;
  readonly period: number;
  readonly up: number;
  readonly down: number;
  readonly 'event-loop-group': string;
  readonly 'acceptor-elg': string;
  readonly address: string;
  readonly upstream: string;
  readonly 'in-buffer-size': number;
  readonly 'out-buffer-size': number;
  readonly method: MethodName;
  readonly weight: number;
  readonly 'security-group': string;
  readonly default: 'allow' | 'deny';
  readonly network: string;
  readonly protocol: string;
  readonly 'port-range': { readonly min: number; readonly max: number };
  readonly check: CheckSpec;
  readonly cert: readonly string[];
  readonly key: string;
  readonly 'cert-key': readonly string[];
  readonly password: string;
  readonly token: string;
  readonly service: string;
  readonly zone: string;
  readonly nic: string;
  readonly port: number;
  readonly 'ip-type': 'v4' | 'v6';
  readonly 'server-group': string;
  readonly 'max-flows': number;
  readonly 'max-associations': number;
  readonly 'udp-timeout': number;
}

/** The typed values of a command: what was given, and for `add` every default of its rule. */
export type Values = { readonly [P in Param]?: ParamValues[P] };

const text = (v: string): string => v;
const list = (v: string): readonly string[] => v.split(',');

/** One parser per parameter; the value was checked by its rule first. */
const PARSE: { readonly [P in Param]: (v: string) => ParamValues[P] } = {
  timeout: Number,
  'fin-timeout': Number,
  retries: Number,
  'access-log': (v) => v === 'on',
  period: Number,
  up: Number,
  down: Number,
  'event-loop-group': text,
  'acceptor-elg': text,
  address: text,
  upstream: text,
  'in-buffer-size': Number,
  'out-buffer-size': Number,
  method: parseMethod,
  weight: Number,
  'security-group': text,
  default: (v) => (v === 'deny' ? 'deny' : 'allow'),
  network: text,
  protocol: (v) => v.toLowerCase(),
  'port-range': (v) => {
    const [min, max] = v.split(',').map(Number);
    return { min: min ?? 0, max: max ?? 0 };
  },
  check: parseCheckSpec,
  cert: list,
  key: text,
  'cert-key': list,
  password: text,
  token: text,
  service: text,
  zone: text,
  nic: text,
  port: Number,
  'ip-type': (v) => (v === 'v6' ? 'v6' : 'v4'),
  'server-group': text,
  'max-flows': Number,
  'max-associations': Number,
  'udp-timeout': Number,
};

/**
 * The typed values of checked params; an `add` also gets its rule's defaults
 * (the rule is the one place a default is written), so a handler never writes
 * `?? 900_000`.
 */
export function typedValues(
  action: Action,
  rule: ActionRule,
  params: Readonly<Partial<Record<Param, string>>>,
): Values {
  const out: { [P in Param]?: ParamValues[P] } = {};
  const set = <P extends Param>(param: P, value: string): void => {
    out[param] = PARSE[param](value);
  };
  for (const [param, value] of Object.entries(params) as [Param, string][]) set(param, value);
  if (action === 'add') {
    for (const r of rule.params ?? []) {
      if (r.default !== undefined && params[r.param] === undefined) set(r.param, r.default);
    }
  }
  return out;
}

/**
 * The values an `add` always has (required by its rule, or defaulted by it),
 * typed as present; a missing one means the model and the handler disagree.
 */
export function present<P extends Param>(
  values: Values,
  ...params: P[]
): { readonly [K in P]: ParamValues[K] } {
  for (const p of params) {
    if (values[p] === undefined) {
      throw new ControlError('ERR_INTERNAL', `internal error: no value nor default for ${p}`);
    }
  }
  return values as { readonly [K in P]: ParamValues[K] };
}
