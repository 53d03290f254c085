import { isIPv4, isIPv6 } from 'node:net';
import { HttpError } from '../http-proxy/errors.js';
import { parseAuthority } from '../http-proxy/target.js';
import { AgentConfigError } from './errors.js';

/**
 * Value parsers for the agent config. Each throws AgentConfigError naming the
 * line, so the caller never needs to catch and re-wrap.
 */

export function portValue(value: string, key: string, line: number): number {
  if (!/^[0-9]{1,5}$/.test(value))
    throw new AgentConfigError(line, `${key}: ${JSON.stringify(value)} is not a port`);
  const port = Number(value);
  if (port < 1 || port > 65535) {
    const hint = port === 0 ? ' (leave the line out to disable the listener)' : '';
    throw new AgentConfigError(line, `${key}: port ${port} is out of range 1-65535${hint}`);
  }
  return port;
}

export function switchValue(value: string, key: string, line: number): boolean {
  const v = value.toLowerCase();
  if (v === 'on') return true;
  if (v === 'off') return false;
  throw new AgentConfigError(line, `${key}: want on or off, not ${JSON.stringify(value)}`);
}

export function countValue(value: string, key: string, line: number, max: number): number {
  if (!/^[0-9]{1,9}$/.test(value) || Number(value) > max) {
    throw new AgentConfigError(
      line,
      `${key}: want a whole number 0-${max}, not ${JSON.stringify(value)}`,
    );
  }
  return Number(value);
}

/** A leading `~` (alone or before '/') → the home directory given. */
export function expandHome(path: string, home: string): string {
  if (path === '~') return home;
  if (path.startsWith('~/')) return `${home.replace(/\/+$/, '')}${path.slice(1)}`;
  return path;
}

/** `user:pass`, exactly one ':', both trimmed and non-empty (the reference's rule). */
export function userPassValue(
  value: string,
  key: string,
  line: number,
): { user: string; password: string } {
  const parts = value.split(':');
  if (parts.length !== 2)
    throw new AgentConfigError(line, `${key}: want user:password with exactly one ':'`);
  const user = (parts[0] as string).trim();
  const password = (parts[1] as string).trim();
  if (user.length === 0 || password.length === 0) {
    throw new AgentConfigError(line, `${key}: user and password must not be empty`);
  }
  return { user, password };
}

/**
 * `agent.gateway.pac.address`: `ip:port`, `*:port` (pick the address the PAC
 * request arrived on), or `[ipv6]:port` — the reference split on ':' and so
 * could not take IPv6 at all. Returns host null for `*`.
 */
export function pacAddressValue(
  value: string,
  key: string,
  line: number,
): { host: string | null; port: number } {
  let hostText: string;
  let portText: string;
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close < 0 || value[close + 1] !== ':') {
      throw new AgentConfigError(line, `${key}: want [ipv6]:port, not ${JSON.stringify(value)}`);
    }
    hostText = value.slice(1, close);
    portText = value.slice(close + 2);
    if (!isIPv6(hostText))
      throw new AgentConfigError(line, `${key}: ${JSON.stringify(hostText)} is not IPv6`);
  } else {
    const colon = value.lastIndexOf(':');
    if (colon < 0) throw new AgentConfigError(line, `${key}: want ip:port or *:port`);
    hostText = value.slice(0, colon);
    portText = value.slice(colon + 1);
    if (hostText.includes(':')) {
      throw new AgentConfigError(line, `${key}: write an IPv6 address in brackets, [addr]:port`);
    }
    if (hostText !== '*' && !isIPv4(hostText)) {
      throw new AgentConfigError(
        line,
        `${key}: ${JSON.stringify(hostText)} is not an IP address or *`,
      );
    }
  }
  return { host: hostText === '*' ? null : hostText, port: portValue(portText, key, line) };
}

/** Host and port of a server entry, through the same parser as proxy targets. */
export function serverAuthorityValue(
  text: string,
  line: number,
): { host: string; hostType: 'name' | 'ipv4' | 'ipv6'; port: number } {
  let authority = text;
  // §4.3: a bare IPv6 literal takes its port after the last ':'.
  const last = text.lastIndexOf(':');
  if (
    !text.startsWith('[') &&
    last > 0 &&
    text.indexOf(':') !== last &&
    isIPv6(text.slice(0, last))
  ) {
    authority = `[${text.slice(0, last)}]${text.slice(last)}`;
  }
  try {
    return parseAuthority(authority);
  } catch (err) {
    if (err instanceof HttpError) {
      throw new AgentConfigError(line, `server address: ${err.message}`, { cause: err });
    }
    throw err;
  }
}
