import { readFileSync } from 'node:fs';
import { type AbpList, parseAbpList } from '../../../src/protocols/rules/abp.js';
import {
  type AgentConfig,
  parseAgentConfig,
} from '../../../src/protocols/websocks/agent-config.js';
import { expandHome } from '../../../src/protocols/websocks/config-values.js';
import { AgentConfigError } from '../../../src/protocols/websocks/errors.js';
import type { CdnSettings } from '../../../src/websocks/agent-routing.js';
import { parseSsMethod, type SsMethod } from '../../../src/websocks/ss-cipher.js';

/**
 * What the agent's config says: the reference's keys (parsed by
 * parseAgentConfig, the single source of their meaning) plus this
 * implementation's extensions, which either form may carry:
 *
 * - `agent.users user:pass[,user:pass…]` — front-end auth (SOCKS5 RFC 1929,
 *   HTTP Proxy-Authorization); required with `agent.gateway on`;
 * - `agent.default direct|SYMBOL` — targets no list decides (default direct);
 * - `agent.ping.timeout MS` — the server's frame/SOCKS5 reply deadline, the
 *   ping of a pooled connection (default 5000);
 * - `agent.pong.interval MS` — PONG keepalive of idle pooled connections (15000);
 * - `proxy.server.hc.period MS` / `proxy.server.hc.timeout MS` (30000 / 5000);
 * - `agent.early-reply on|off` — answer a proxied CONNECT once its request is
 *   on the tunnel, not after the server's reply (faster first byte; a target
 *   the server cannot reach is then a close instead of a reply code; off);
 * - `agent.ss.method chacha20-ietf-poly1305|aes-256-gcm|aes-256-cfb` — the
 *   Shadowsocks cipher (default aes-256-cfb, what the reference's clients use);
 * - `proxy.server.cdn ENTRY dial=H:P sni=NAME host=HOST path=/P header=N:V… mode=framed` —
 *   CDN mode for the server entry ENTRY (`scheme://host:port` as listed);
 *   `mode=framed` for gateways that parse WebSocket frames.
 */
export interface LoadedAgentConfig {
  readonly config: AgentConfig;
  readonly users: ReadonlyMap<string, string> | null;
  readonly otherwise: 'direct' | { readonly proxy: string };
  readonly pingTimeoutMs: number | undefined;
  readonly pongIntervalMs: number | undefined;
  readonly healthPeriodMs: number | undefined;
  readonly healthTimeoutMs: number | undefined;
  /** `agent.early-reply` (default off). */
  readonly earlyReply: boolean;
  readonly cdn: ReadonlyMap<string, CdnSettings>;
  /** `agent.ss.method` (default aes-256-cfb, the reference's). */
  readonly ssMethod: SsMethod | undefined;
  readonly abpFiles: ReadonlyMap<string, AbpList>;
}

interface Extensions {
  users: Map<string, string> | null;
  otherwise: 'direct' | { proxy: string };
  pingTimeoutMs?: number;
  pongIntervalMs?: number;
  healthPeriodMs?: number;
  healthTimeoutMs?: number;
  earlyReply: boolean;
  cdn: Map<string, CdnSettings>;
  ssMethod?: SsMethod;
}

const EXTENSION_KEYS = new Set([
  'agent.users',
  'agent.default',
  'agent.ping.timeout',
  'agent.pong.interval',
  'proxy.server.hc.period',
  'proxy.server.hc.timeout',
  'proxy.server.cdn',
  'agent.ss.method',
  'agent.early-reply',
]);

function ms(value: string, key: string, line: number): number {
  if (!/^[0-9]{1,9}$/.test(value) || Number(value) < 1) {
    throw new AgentConfigError(line, `${key}: want milliseconds (a whole number ≥ 1)`);
  }
  return Number(value);
}

function applyExtension(ext: Extensions, key: string, value: string, line: number): void {
  switch (key) {
    case 'agent.users': {
      const users = new Map<string, string>();
      for (const pair of value.split(',').filter((p) => p.length > 0)) {
        const colon = pair.indexOf(':');
        if (colon <= 0 || colon === pair.length - 1) {
          throw new AgentConfigError(line, `${key}: want user:pass[,user:pass…]`);
        }
        users.set(pair.slice(0, colon), pair.slice(colon + 1));
      }
      ext.users = users;
      return;
    }
    case 'agent.ss.method':
      try {
        ext.ssMethod = parseSsMethod(value);
      } catch (err) {
        throw new AgentConfigError(line, (err as Error).message);
      }
      return;
    case 'agent.default':
      ext.otherwise = value === 'direct' ? 'direct' : { proxy: value };
      return;
    case 'agent.ping.timeout':
      ext.pingTimeoutMs = ms(value, key, line);
      return;
    case 'agent.pong.interval':
      ext.pongIntervalMs = ms(value, key, line);
      return;
    case 'agent.early-reply':
      if (value !== 'on' && value !== 'off')
        throw new AgentConfigError(line, `${key}: want on or off`);
      ext.earlyReply = value === 'on';
      return;
    case 'proxy.server.hc.period':
      ext.healthPeriodMs = ms(value, key, line);
      return;
    case 'proxy.server.hc.timeout':
      ext.healthTimeoutMs = ms(value, key, line);
      return;
    default: {
      const [entry, ...settings] = value.split(/\s+/);
      if (entry === undefined || entry === '' || !entry.includes('://')) {
        throw new AgentConfigError(line, `${key}: want a server entry, then name=value settings`);
      }
      const cdn: {
        dial?: string;
        sni?: string;
        hostHeader?: string;
        path?: string;
        mode?: 'raw' | 'framed';
        headers: [string, string][];
      } = { headers: [] };
      for (const s of settings) {
        const eq = s.indexOf('=');
        const name = s.slice(0, eq);
        const v = s.slice(eq + 1);
        if (eq <= 0 || v.length === 0) throw new AgentConfigError(line, `${key}: bad setting ${s}`);
        if (name === 'dial') cdn.dial = v;
        else if (name === 'sni') cdn.sni = v;
        else if (name === 'host') cdn.hostHeader = v;
        else if (name === 'path') cdn.path = v;
        else if (name === 'mode' && (v === 'raw' || v === 'framed')) cdn.mode = v;
        else if (name === 'header' && v.indexOf(':') > 0) {
          cdn.headers.push([v.slice(0, v.indexOf(':')), v.slice(v.indexOf(':') + 1)]);
        } else {
          throw new AgentConfigError(
            line,
            `${key}: unknown setting ${name} (dial, sni, host, path, header, mode=raw|framed)`,
          );
        }
      }
      ext.cdn.set(entry, cdn);
    }
  }
}

/**
 * The JSON form: the same keys as the line form, as an object. Scalars are
 * strings or numbers (booleans mean on/off); `proxy.server.list` and
 * `proxy.domain.list` map a symbol to its entries; `proxy.server.cdn` maps
 * an entry to `{dial, sni, host, path, headers: {name: value}}`. Turned
 * into the line form, so both forms are checked by the same parser.
 */
export function jsonToLines(text: string): string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new AgentConfigError(0, `not JSON: ${(err as Error).message}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new AgentConfigError(0, 'the JSON config must be an object');
  }
  const out: string[] = [];
  const scalar = (key: string, v: unknown): string => {
    if (typeof v === 'boolean') return v ? 'on' : 'off';
    if (typeof v === 'number' || typeof v === 'string') return String(v);
    if (Array.isArray(v) && key === 'agent.users') return v.map(String).join(',');
    throw new AgentConfigError(0, `${key}: want a string, number or boolean`);
  };
  for (const [key, v] of Object.entries(doc as Record<string, unknown>)) {
    if (key === 'proxy.server.list' || key === 'proxy.domain.list') {
      const kind = key === 'proxy.server.list' ? 'server' : 'domain';
      if (v === null || typeof v !== 'object' || Array.isArray(v)) {
        throw new AgentConfigError(0, `${key}: want {"SYMBOL": [entries…]}`);
      }
      for (const [symbol, entries] of Object.entries(v as Record<string, unknown>)) {
        if (!Array.isArray(entries)) throw new AgentConfigError(0, `${key}.${symbol}: want a list`);
        out.push(
          `proxy.${kind}.list.start ${symbol}`,
          ...entries.map(String),
          `proxy.${kind}.list.end`,
        );
      }
    } else if (key === 'proxy.server.cdn') {
      for (const [entry, c] of Object.entries(
        (v ?? {}) as Record<string, Record<string, unknown>>,
      )) {
        const parts = [entry];
        for (const name of ['dial', 'sni', 'host', 'path', 'mode']) {
          if (c[name] !== undefined) parts.push(`${name}=${String(c[name])}`);
        }
        for (const [h, hv] of Object.entries((c.headers ?? {}) as Record<string, unknown>)) {
          parts.push(`header=${h}:${String(hv)}`);
        }
        out.push(`proxy.server.cdn ${parts.join(' ')}`);
      }
    } else {
      out.push(`${key} ${scalar(key, v)}`);
    }
  }
  return out.join('\n');
}

/**
 * Parse a config (line form, or JSON when `json`), strip and apply the
 * extension keys (blank lines keep the line numbers), and read every ABP
 * file the domain lists name.
 */
export function loadAgentConfigText(
  text: string,
  options: { home: string; json: boolean; readFile?: (path: string) => string },
): LoadedAgentConfig {
  const lines = (options.json ? jsonToLines(text) : text).replace(/^\uFEFF/, '').split(/\r?\n/);
  const ext: Extensions = { users: null, otherwise: 'direct', earlyReply: false, cdn: new Map() };
  const kept = lines.map((raw, i) => {
    const line = raw.trim();
    const space = line.search(/\s/);
    const key = space < 0 ? line : line.slice(0, space);
    if (!EXTENSION_KEYS.has(key)) return raw;
    applyExtension(ext, key, space < 0 ? '' : line.slice(space).trim(), i + 1);
    return '';
  });
  const config = parseAgentConfig(kept.join('\n'), { home: options.home });
  const read = options.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const abpFiles = new Map<string, AbpList>();
  for (const list of config.domainLists) {
    for (const { entry, line } of list.entries) {
      if (entry.kind !== 'abp-file' || abpFiles.has(entry.path)) continue;
      let body: string;
      try {
        body = read(expandHome(entry.path, options.home));
      } catch (err) {
        throw new AgentConfigError(
          line,
          `cannot read ABP file ${entry.path}: ${(err as Error).message}`,
        );
      }
      abpFiles.set(entry.path, parseAbpList(body, entry.path));
    }
  }
  return {
    config,
    users: ext.users,
    otherwise: ext.otherwise,
    pingTimeoutMs: ext.pingTimeoutMs,
    pongIntervalMs: ext.pongIntervalMs,
    healthPeriodMs: ext.healthPeriodMs,
    healthTimeoutMs: ext.healthTimeoutMs,
    earlyReply: ext.earlyReply,
    cdn: ext.cdn,
    ssMethod: ext.ssMethod,
    abpFiles,
  };
}
