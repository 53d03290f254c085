import { type DomainEntry, parseDomainEntry } from '../rules/domain-entry.js';
import { RuleError } from '../rules/errors.js';
import {
  countValue,
  expandHome,
  pacAddressValue,
  portValue,
  switchValue,
  userPassValue,
} from './config-values.js';
import { AgentConfigError } from './errors.js';
import { parseServerEntry, type ServerEntry } from './server-entry.js';

/** A domain-list entry with its line (an ABP file path already `~`-expanded). */
export interface DomainListEntry {
  readonly entry: DomainEntry;
  readonly line: number;
}

/**
 * The reference agent's config (§4.2), parsed once into typed, frozen values.
 * Every key of the reference is here, with its default.
 */
export interface AgentConfig {
  /** `agent.listen`: the SOCKS5 listener port (default 1080). */
  readonly socksListen: number;
  /** `agent.httpconnect.listen`: HTTP CONNECT / plain-HTTP proxy port, or null (disabled). */
  readonly httpConnectListen: number | null;
  /** `agent.ss.listen`: Shadowsocks port, or null. */
  readonly ssListen: number | null;
  /** `agent.ss.password`: required when Shadowsocks is on. */
  readonly ssPassword: string | null;
  /** `proxy.server.auth user:pass`: the credentials for the WebSocks servers (required). */
  readonly auth: { readonly user: string; readonly password: string };
  /** `proxy.server.hc on|off` (default on); off: every server counts as healthy. */
  readonly healthCheck: boolean;
  /**
   * `agent.cacerts.path`: a PEM bundle of CAs to trust for websockss servers
   * (`~` expanded). The reference took a Java keystore; a .jks path is refused
   * with a hint rather than failing later at the first TLS handshake.
   */
  readonly cacertsPath: string | null;
  /** `agent.cacerts.pswd`: the keystore password; kept for old files, unused with PEM. */
  readonly cacertsPassword: string | null;
  /** `agent.cert.verify on|off` (default on); off: any server certificate is trusted. */
  readonly certVerify: boolean;
  /** `agent.gateway on|off` (default off); on: listeners bind 0.0.0.0 instead of 127.0.0.1. */
  readonly gateway: boolean;
  /**
   * `agent.gateway.pac.address ip:port`: serve the PAC file on 0.0.0.0:port,
   * naming `host` in it (null for `*`: the address the request arrived on).
   */
  readonly pacAddress: { readonly host: string | null; readonly port: number } | null;
  /** `agent.strict on|off` (default off): wait for each handshake reply (§3.7). */
  readonly strict: boolean;
  /** `agent.pool n` (default 10): warm connections per server list per worker; 0 disables. */
  readonly poolSize: number;
  /** `proxy.server.list.start [SYMBOL]` … `.end` (symbol DEFAULT), in file order. */
  readonly serverLists: readonly {
    readonly symbol: string;
    readonly servers: readonly ServerEntry[];
  }[];
  /** `proxy.domain.list.start [SYMBOL]` … `.end`, in file order. */
  readonly domainLists: readonly {
    readonly symbol: string;
    readonly entries: readonly DomainListEntry[];
  }[];
}

export interface AgentConfigOptions {
  /** The home directory for `~` (injected: the parser does no I/O and reads no environment). */
  readonly home: string;
}

type ListKind = 'server' | 'domain';
const LIST_KEYS: Record<string, ListKind> = {
  'proxy.server.list.start': 'server',
  'proxy.domain.list.start': 'domain',
};
const END_KEYS: Record<ListKind, string> = {
  server: 'proxy.server.list.end',
  domain: 'proxy.domain.list.end',
};
const SCALAR_KEYS = new Set([
  'agent.listen',
  'agent.httpconnect.listen',
  'agent.ss.listen',
  'agent.ss.password',
  'proxy.server.auth',
  'proxy.server.hc',
  'agent.cacerts.path',
  'agent.cacerts.pswd',
  'agent.cert.verify',
  'agent.gateway',
  'agent.gateway.pac.address',
  'agent.strict',
  'agent.pool',
]);

interface OpenList {
  kind: ListKind;
  symbol: string;
  line: number;
  servers: ServerEntry[];
  entries: DomainListEntry[];
}

/**
 * Freeze a graph of plain objects and arrays. RegExps and byte arrays inside
 * compiled rules are left alone: a typed array with elements cannot be frozen.
 */
function deepFreeze<T>(value: T): T {
  const plain =
    Array.isArray(value) ||
    (value !== null &&
      typeof value === 'object' &&
      Object.getPrototypeOf(value) === Object.prototype);
  if (plain && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function domainEntry(text: string, line: number, home: string): DomainListEntry {
  let entry: DomainEntry;
  try {
    entry = parseDomainEntry(text, line);
  } catch (err) {
    if (err instanceof RuleError)
      throw new AgentConfigError(line, err.message.replace(/^line \d+: /, ''), { cause: err });
    throw err;
  }
  if (entry.kind === 'abp-file') entry = { ...entry, path: expandHome(entry.path, home) };
  return { entry, line };
}

/**
 * Parse the text of a reference agent config. Lines are `key value`; `#`
 * starts a comment line; blank lines are ignored; any other line is an error.
 * Every error is an AgentConfigError naming the line; nothing else is thrown.
 */
export function parseAgentConfig(text: string, options: AgentConfigOptions): AgentConfig {
  const home = options.home;
  const values = new Map<string, { value: string; line: number }>();
  const serverLists = new Map<string, { line: number; servers: ServerEntry[] }>();
  const domainLists = new Map<string, { line: number; entries: DomainListEntry[] }>();
  let open: OpenList | null = null;

  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const line = (lines[i] as string).trim();
    if (line.length === 0 || line.startsWith('#')) continue;
    const space = line.search(/\s/);
    const key = space < 0 ? line : line.slice(0, space);
    const value = space < 0 ? '' : line.slice(space).trim();

    if (open) {
      if (key === END_KEYS[open.kind] && value === '') {
        const target = open.kind === 'server' ? serverLists : domainLists;
        const existing = target.get(open.symbol);
        if (open.kind === 'server') {
          const list = existing as { line: number; servers: ServerEntry[] } | undefined;
          if (list) list.servers.push(...open.servers);
          else serverLists.set(open.symbol, { line: open.line, servers: open.servers });
        } else {
          const list = existing as { line: number; entries: DomainListEntry[] } | undefined;
          if (list) list.entries.push(...open.entries);
          else domainLists.set(open.symbol, { line: open.line, entries: open.entries });
        }
        open = null;
      } else if (key in LIST_KEYS || Object.values(END_KEYS).includes(key)) {
        throw new AgentConfigError(
          n,
          `${key} inside the list opened on line ${open.line} (missing ${END_KEYS[open.kind]}?)`,
        );
      } else if (open.kind === 'server') {
        open.servers.push(parseServerEntry(line, n));
      } else {
        open.entries.push(domainEntry(line, n, home));
      }
      continue;
    }

    const listKind = LIST_KEYS[key];
    if (listKind) {
      const symbol = value === '' ? 'DEFAULT' : value;
      if (/\s/.test(symbol))
        throw new AgentConfigError(n, `list symbol ${JSON.stringify(symbol)} contains a space`);
      open = { kind: listKind, symbol, line: n, servers: [], entries: [] };
      continue;
    }
    if (key === END_KEYS.server || key === END_KEYS.domain) {
      throw new AgentConfigError(n, `${key} without a matching .start`);
    }
    if (!SCALAR_KEYS.has(key))
      throw new AgentConfigError(n, `unknown key ${JSON.stringify(key.slice(0, 60))}`);
    if (value === '') throw new AgentConfigError(n, `${key} needs a value`);
    const previous = values.get(key);
    if (previous) throw new AgentConfigError(n, `${key} is already set on line ${previous.line}`);
    values.set(key, { value, line: n });
  }
  if (open)
    throw new AgentConfigError(
      open.line,
      `list opened here is never closed by ${END_KEYS[open.kind]}`,
    );

  const get = <T>(
    key: string,
    parse: (value: string, key: string, line: number) => T,
  ): T | null => {
    const v = values.get(key);
    return v ? parse(v.value, key, v.line) : null;
  };
  const raw = (key: string) => values.get(key)?.value ?? null;

  const auth = get('proxy.server.auth', userPassValue);
  if (!auth) throw new AgentConfigError(0, 'proxy.server.auth user:password is required');
  const socksListen = get('agent.listen', portValue) ?? 1080;
  const httpConnectListen = get('agent.httpconnect.listen', portValue);
  const ssListen = get('agent.ss.listen', portValue);
  const ssPassword = raw('agent.ss.password');
  const pacAddress = get('agent.gateway.pac.address', pacAddressValue);
  const ports: [string, number | null][] = [
    ['agent.listen', socksListen],
    ['agent.httpconnect.listen', httpConnectListen],
    ['agent.ss.listen', ssListen],
    ['agent.gateway.pac.address', pacAddress?.port ?? null],
  ];
  for (let a = 0; a < ports.length; a++) {
    for (let b = a + 1; b < ports.length; b++) {
      const [ka, pa] = ports[a] as [string, number | null];
      const [kb, pb] = ports[b] as [string, number | null];
      if (pa !== null && pa === pb) {
        throw new AgentConfigError(
          values.get(kb)?.line ?? 0,
          `${kb} uses port ${pb}, as ${ka} does`,
        );
      }
    }
  }
  if (ssListen !== null && ssPassword === null) {
    throw new AgentConfigError(
      values.get('agent.ss.listen')?.line ?? 0,
      'agent.ss.listen needs agent.ss.password',
    );
  }
  const cacertsPath = get('agent.cacerts.path', (v, key, line) => {
    if (/\.(jks|keystore|p12|pfx)$/i.test(v)) {
      throw new AgentConfigError(
        line,
        `${key} must name a PEM bundle; export the keystore's certificates (keytool -exportcert -rfc) into a .pem file`,
      );
    }
    return expandHome(v, home);
  });

  for (const [symbol, list] of serverLists) {
    if (list.servers.length === 0)
      throw new AgentConfigError(list.line, `server list ${symbol} has no servers`);
    if (!domainLists.has(symbol)) {
      throw new AgentConfigError(
        list.line,
        `server list ${symbol} has no proxy.domain.list.start ${symbol}`,
      );
    }
  }
  for (const [symbol, list] of domainLists) {
    if (!serverLists.has(symbol)) {
      throw new AgentConfigError(
        list.line,
        `domain list ${symbol} has no proxy.server.list.start ${symbol}`,
      );
    }
  }

  return deepFreeze({
    socksListen,
    httpConnectListen,
    ssListen,
    ssPassword,
    auth,
    healthCheck: get('proxy.server.hc', switchValue) ?? true,
    cacertsPath,
    cacertsPassword: raw('agent.cacerts.pswd'),
    certVerify: get('agent.cert.verify', switchValue) ?? true,
    gateway: get('agent.gateway', switchValue) ?? false,
    pacAddress,
    strict: get('agent.strict', switchValue) ?? false,
    poolSize: get('agent.pool', (v, k, l) => countValue(v, k, l, 10_000)) ?? 10,
    serverLists: [...serverLists].map(([symbol, l]) => ({ symbol, servers: l.servers })),
    domainLists: [...domainLists].map(([symbol, l]) => ({ symbol, entries: l.entries })),
  });
}
