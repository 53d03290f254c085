import { parseCidr } from './cidr.js';
import { RuleError } from './errors.js';
import { ruleHost } from './host.js';
import type { HostPattern } from './pattern.js';

/** One entry of a domain list (§4.4): a rule, or a reference to an ABP/gfwlist file. */
export type DomainEntry =
  | { readonly kind: 'rule'; readonly pattern: HostPattern; readonly text: string }
  | { readonly kind: 'abp-file'; readonly path: string; readonly text: string };

const DOMAIN = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/;

/**
 * Parse one domain-list entry:
 *
 * - `:14000` — the requested port;
 * - `/regex/` — must match the whole host (case-insensitive: host names are);
 * - `[path]` — an ABP/gfwlist file (read and parsed by the caller: no I/O here);
 * - an IP literal (`1.2.3.4`, `::1`, `[::1]`) — that address, however the
 *   client spells it; `addr/len` — a network;
 * - `.example.com` or `*.example.com` — strict subdomains;
 * - anything else — a domain suffix on dot boundaries: `example.com` matches
 *   `example.com` and `a.example.com` but not `badexample.com` (the reference's
 *   plain `endsWith` matched that too).
 *
 * Throws RuleError (with `line`) for anything else.
 */
export function parseDomainEntry(raw: string, line = 0): DomainEntry {
  const text = raw.trim();
  const fail = (why: string): never => {
    throw new RuleError(text, why, line);
  };
  if (text.length === 0) fail('empty rule');
  // `::1` also starts with ':'; a port rule is ':' and digits (or clearly meant as one).
  if (text.startsWith(':') && !text.startsWith('::')) {
    const p = text.slice(1);
    if (!/^[0-9]{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) {
      fail('a port rule needs a port 1-65535');
    }
    return { kind: 'rule', pattern: { kind: 'port', port: Number(p) }, text };
  }
  if (text.length >= 2 && text.startsWith('/') && text.endsWith('/')) {
    try {
      const regex = new RegExp(`^(?:${text.slice(1, -1)})$`, 'i');
      return { kind: 'rule', pattern: { kind: 'regex', regex, scope: 'host' }, text };
    } catch (err) {
      return fail(`bad regular expression: ${(err as Error).message}`);
    }
  }
  if (text.startsWith('[')) {
    if (!text.endsWith(']') || text.length < 3) fail("an ABP file reference is '[path]'");
    const inner = text.slice(1, -1).trim();
    // `[::1]` is an IPv6 literal in brackets, not a file.
    if (ruleHost(inner).family === 0) return { kind: 'abp-file', path: inner, text };
  }
  let cidr: ReturnType<typeof parseCidr>;
  try {
    cidr = parseCidr(text);
  } catch (err) {
    return fail((err as Error).message);
  }
  if (cidr) {
    const whole = cidr.prefix === cidr.bytes.length * 8 && !text.includes('/');
    if (whole) return { kind: 'rule', pattern: { kind: 'exact', host: ruleHost(text).name }, text };
    return { kind: 'rule', pattern: { kind: 'cidr', cidr }, text };
  }
  let name = text.toLowerCase();
  let sub = false;
  if (name.startsWith('*.')) name = name.slice(1);
  if (name.startsWith('.')) {
    sub = true;
    name = name.slice(1);
  }
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (!DOMAIN.test(name)) fail('not a domain, IP, network, :port, /regex/ or [file]');
  return { kind: 'rule', pattern: { kind: sub ? 'subdomain' : 'domain', domain: name }, text };
}
