import { readFileSync } from 'node:fs';
import {
  configError,
  defaultConfig,
  type KcptunConfig,
  validateConfig,
} from '../../transports/kcptun/index.js';

export type Side = 'client' | 'server';

/** What `vproxy kcptun client|server` runs with, after flags and `-c` JSON. */
export interface KcptunCli {
  readonly side: Side;
  readonly config: KcptunConfig;
  /** Client: the local TCP listen address; server: the UDP listen address. */
  readonly listen: string;
  /** Client: the kcptun server; server: the TCP target. */
  readonly remote: string;
  readonly quiet: boolean;
  /** `--snmplog`: kcp-go's counters as CSV, the file name a Go time layout ('' = off). */
  readonly snmplog: string;
  /** `--snmpperiod`: seconds between lines (kcptun's default 60; 0 = off, as in kcptun). */
  readonly snmpperiod: number;
  /** Accepted for compatibility and ignored; each is said once on stderr. */
  readonly warnings: readonly string[];
  readonly help: boolean;
}

type Kind = 'string' | 'int' | 'bool';
interface Spec {
  readonly names: readonly string[];
  readonly kind: Kind;
  /** The JSON field (kcptun's json tags) and our config field. */
  readonly field: string;
  readonly sides?: readonly Side[];
  /** Accepted, not implemented: a warning when set. */
  readonly ignored?: string;
}

/** kcptun's flags (client/main.go, server/main.go of 20210922), with their JSON names. */
const SPECS: readonly Spec[] = [
  { names: ['localaddr', 'l'], kind: 'string', field: 'localaddr', sides: ['client'] },
  { names: ['remoteaddr', 'r'], kind: 'string', field: 'remoteaddr', sides: ['client'] },
  { names: ['listen', 'l'], kind: 'string', field: 'listen', sides: ['server'] },
  { names: ['target', 't'], kind: 'string', field: 'target', sides: ['server'] },
  { names: ['key'], kind: 'string', field: 'key' },
  { names: ['crypt'], kind: 'string', field: 'crypt' },
  { names: ['mode'], kind: 'string', field: 'mode' },
  { names: ['conn'], kind: 'int', field: 'conn', sides: ['client'] },
  { names: ['autoexpire'], kind: 'int', field: 'autoexpire', sides: ['client'] },
  { names: ['scavengettl'], kind: 'int', field: 'scavengettl', sides: ['client'] },
  { names: ['mtu'], kind: 'int', field: 'mtu' },
  { names: ['sndwnd'], kind: 'int', field: 'sndwnd' },
  { names: ['rcvwnd'], kind: 'int', field: 'rcvwnd' },
  { names: ['datashard', 'ds'], kind: 'int', field: 'datashard' },
  { names: ['parityshard', 'ps'], kind: 'int', field: 'parityshard' },
  { names: ['dscp'], kind: 'int', field: 'dscp', ignored: 'DSCP marking is not implemented' },
  { names: ['nocomp'], kind: 'bool', field: 'nocomp' },
  { names: ['sockbuf'], kind: 'int', field: 'sockbuf' },
  { names: ['smuxver'], kind: 'int', field: 'smuxver' },
  { names: ['smuxbuf'], kind: 'int', field: 'smuxbuf' },
  { names: ['streambuf'], kind: 'int', field: 'streambuf' },
  { names: ['keepalive'], kind: 'int', field: 'keepalive' },
  { names: ['nodelay'], kind: 'int', field: 'nodelay' },
  { names: ['interval'], kind: 'int', field: 'interval' },
  { names: ['resend'], kind: 'int', field: 'resend' },
  { names: ['nc'], kind: 'int', field: 'nc' },
  { names: ['acknodelay'], kind: 'bool', field: 'acknodelay' },
  { names: ['snmplog'], kind: 'string', field: 'snmplog' },
  { names: ['snmpperiod'], kind: 'int', field: 'snmpperiod' },
  { names: ['log'], kind: 'string', field: 'log', ignored: 'logs go to stderr' },
  { names: ['quiet'], kind: 'bool', field: 'quiet' },
  { names: ['tcp'], kind: 'bool', field: 'tcp', ignored: 'TCP emulation is not implemented' },
  { names: ['pprof'], kind: 'bool', field: 'pprof', sides: ['server'], ignored: 'no pprof server' },
];

/** Settings as kcptun names them; flags first, then `-c` JSON over them (kcptun's order). */
type Raw = Record<string, string | number | boolean>;

function specFor(side: Side, name: string): Spec | undefined {
  return SPECS.find((s) => s.names.includes(name) && (s.sides?.includes(side) ?? true));
}

/**
 * Parses a kcptun command line: urfave/cli (Go flag) style, so `-key x`, `--key x`,
 * `--key=x` and `-nocomp` all work, as an existing kcptun invocation writes them.
 */
export function parseKcptunArgs(side: Side, argv: readonly string[]): KcptunCli {
  const raw: Raw = {};
  let json: string | undefined;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const m = /^--?([A-Za-z][\w-]*)(?:=(.*))?$/s.exec(arg);
    if (m === null) throw configError(`unexpected argument "${arg}"`);
    const name = m[1] as string;
    let value = m[2];
    if (name === 'h' || name === 'help') {
      help = true;
      continue;
    }
    if (name === 'c') {
      json = value ?? argv[++i];
      if (json === undefined) throw configError('flag -c needs a file');
      continue;
    }
    const spec = specFor(side, name);
    if (spec === undefined) throw configError(`flag provided but not defined: -${name}`);
    if (spec.kind === 'bool') {
      raw[spec.field] = value === undefined ? true : parseBool(name, value);
      continue;
    }
    value ??= argv[++i];
    if (value === undefined) throw configError(`flag needs an argument: -${name}`);
    raw[spec.field] = spec.kind === 'int' ? parseIntFlag(name, value) : value;
  }
  if (json !== undefined) Object.assign(raw, readJson(side, json));
  if (raw.key === undefined && process.env.KCPTUN_KEY !== undefined)
    raw.key = process.env.KCPTUN_KEY;
  return build(side, raw, help);
}

function parseBool(name: string, v: string): boolean {
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw configError(`invalid boolean value "${v}" for -${name}`);
}

function parseIntFlag(name: string, v: string): number {
  if (!/^-?\d+$/.test(v))
    throw configError(`invalid value "${v}" for flag -${name}: not an integer`);
  return Number(v);
}

/** kcptun's JSON config: the same names as the flags' JSON tags. */
function readJson(side: Side, path: string): Raw {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw configError(`-c ${path}: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw configError(`-c ${path}: expected a JSON object`);
  }
  const out: Raw = {};
  for (const [k, v] of Object.entries(parsed)) {
    const spec = SPECS.find((s) => s.field === k && (s.sides?.includes(side) ?? true));
    if (spec === undefined) continue; // kcptun ignores fields it does not know
    const ok =
      (spec.kind === 'bool' && typeof v === 'boolean') ||
      (spec.kind === 'int' && Number.isInteger(v)) ||
      (spec.kind === 'string' && typeof v === 'string');
    if (!ok)
      throw configError(
        `-c ${path}: "${k}" must be ${spec.kind === 'int' ? 'an integer' : `a ${spec.kind}`}`,
      );
    out[k] = v as string | number | boolean;
  }
  return out;
}

function build(side: Side, raw: Raw, help: boolean): KcptunCli {
  const warnings: string[] = [];
  for (const s of SPECS) {
    const v = raw[s.field];
    if (s.ignored !== undefined && v !== undefined && v !== false && v !== 0 && v !== '') {
      warnings.push(`--${s.names[0]}: accepted and ignored (${s.ignored})`);
    }
  }
  const base = defaultConfig(side);
  const pick = <T>(field: string, fallback: T): T => (raw[field] ?? fallback) as T;
  const config = validateConfig({
    key: pick('key', base.key),
    crypt: pick('crypt', base.crypt),
    mode: pick('mode', base.mode),
    nodelay: pick('nodelay', base.nodelay),
    interval: pick('interval', base.interval),
    resend: pick('resend', base.resend),
    nc: pick('nc', base.nc),
    acknodelay: pick('acknodelay', base.acknodelay),
    mtu: pick('mtu', base.mtu),
    sndwnd: pick('sndwnd', base.sndwnd),
    rcvwnd: pick('rcvwnd', base.rcvwnd),
    datashard: pick('datashard', base.datashard),
    parityshard: pick('parityshard', base.parityshard),
    nocomp: pick('nocomp', base.nocomp),
    sockbuf: pick('sockbuf', base.sockbuf),
    smuxver: pick('smuxver', base.smuxver),
    smuxbuf: pick('smuxbuf', base.smuxbuf),
    streambuf: pick('streambuf', base.streambuf),
    keepalive: pick('keepalive', base.keepalive),
    conn: pick('conn', base.conn),
    autoexpire: pick('autoexpire', base.autoexpire),
    scavengettl: pick('scavengettl', base.scavengettl),
  });
  return {
    side,
    config,
    listen: String(
      raw[side === 'client' ? 'localaddr' : 'listen'] ?? (side === 'client' ? ':12948' : ':29900'),
    ),
    remote: String(
      raw[side === 'client' ? 'remoteaddr' : 'target'] ??
        (side === 'client' ? 'vps:29900' : '127.0.0.1:12948'),
    ),
    quiet: raw.quiet === true,
    snmplog: String(raw.snmplog ?? ''),
    snmpperiod: snmpPeriod(raw.snmpperiod),
    warnings,
    help,
  };
}

/** Longest period a timer takes (2^31 - 1 ms). */
const MAX_SNMP_PERIOD = Math.floor((2 ** 31 - 1) / 1000);

/**
 * kcptun takes any period: 0 turns the log off, and a negative one panics its ticker one
 * goroutine later (the process dies); here it is an error at start-up instead.
 */
function snmpPeriod(v: string | number | boolean | undefined): number {
  const n = v === undefined ? 60 : Number(v);
  if (!Number.isInteger(n) || n < 0 || n > MAX_SNMP_PERIOD) {
    throw configError(
      `snmpperiod ${String(v)}: expected seconds in [0, ${MAX_SNMP_PERIOD}] (0: no SNMP log)`,
    );
  }
  return n;
}

/** `host:port` as kcptun takes it (`:port` = every interface, `[v6]:port`). */
export function splitHostPort(text: string, forListen: boolean): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (m === null || port > 65535) throw configError(`address "${text}": expected host:port`);
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? (forListen ? '0.0.0.0' : '127.0.0.1') : host, port };
}

export function usage(side: Side): string {
  const lines = SPECS.filter((s) => s.sides?.includes(side) ?? true).map((s) => {
    const names = s.names.map((n) => (n.length === 1 ? `-${n}` : `--${n}`)).join(', ');
    return `   ${names}${s.kind === 'bool' ? '' : ' value'}${s.ignored ? '  (accepted, ignored)' : ''}`;
  });
  return [
    `vproxy kcptun ${side} — kcptun-compatible ${side} (same flags and defaults as kcptun 20210922)`,
    '',
    'OPTIONS:',
    ...lines,
    '   -c value  config from json file, which overrides the command line',
  ].join('\n');
}
