import { type Cidr, cidrContains } from './cidr.js';
import { type RuleHost, urlHost } from './host.js';

/**
 * What one rule tests, reduced to what a proxy actually knows about a request:
 * the host and the port (a CONNECT or SOCKS5 request has no URL path). Every
 * rule form of the domain lists and of ABP lists compiles to one of these.
 */
export type HostPattern =
  /** The domain itself or any subdomain, on dot boundaries (`example.com`, `||example.com^`). */
  | { readonly kind: 'domain'; readonly domain: string }
  /** Strict subdomains only (`.example.com`, `*.example.com`). */
  | { readonly kind: 'subdomain'; readonly domain: string }
  /** This host only: a name, or an IP literal in canonical form (`|http://host/`, `1.2.3.4`). */
  | { readonly kind: 'exact'; readonly host: string }
  /** ABP substring that must end where the host ends (`example.com/path`, `example.com^`). */
  | { readonly kind: 'ends-with'; readonly text: string }
  /** ABP substring anywhere in the host (`example`). */
  | { readonly kind: 'contains'; readonly text: string }
  /**
   * A regular expression. `host`: tested against the host (domain lists'
   * `/re/`, anchored to the whole host; ABP wildcard rules). `url`: ABP `/re/`
   * rules, written against URLs, tested against the host, `http://host/` and
   * `https://host/`.
   */
  | { readonly kind: 'regex'; readonly regex: RegExp; readonly scope: 'host' | 'url' }
  /** An IP network (`10.0.0.0/8`, `fd00::/8`); only IP literal hosts can match. */
  | { readonly kind: 'cidr'; readonly cidr: Cidr }
  /** The requested port (`:14000`). */
  | { readonly kind: 'port'; readonly port: number };

export type RuleAction = 'proxy' | 'direct';

/** One rule as compiled, with where it came from for explanations and logs. */
export interface Rule {
  readonly pattern: HostPattern;
  readonly action: RuleAction;
  /** The rule as written. */
  readonly text: string;
  /** Where it was written: a list name or file path, and the 1-based line (0 if unknown). */
  readonly source: string;
  readonly line: number;
}

/** Whether a dotted `name` is `domain` or one of its subdomains. */
export function isDomainOrSub(name: string, domain: string): boolean {
  return name === domain || isStrictSub(name, domain);
}

export function isStrictSub(name: string, domain: string): boolean {
  return (
    name.length > domain.length &&
    name.endsWith(domain) &&
    name.charCodeAt(name.length - domain.length - 1) === 0x2e
  );
}

/**
 * The reference semantics of one pattern, a plain linear test. The compiled
 * index (HostIndex) must agree with this on every input; a property test holds
 * it to that.
 */
export function patternMatches(pattern: HostPattern, host: RuleHost, port: number): boolean {
  const name = host.name;
  switch (pattern.kind) {
    case 'domain':
      return host.family === 0 ? isDomainOrSub(name, pattern.domain) : name === pattern.domain;
    case 'subdomain':
      return host.family === 0 && isStrictSub(name, pattern.domain);
    case 'exact':
      return name === pattern.host;
    case 'ends-with':
      return name.endsWith(pattern.text);
    case 'contains':
      return name.includes(pattern.text);
    case 'regex':
      if (pattern.regex.test(name)) return true;
      if (pattern.scope === 'host') return false;
      return (
        pattern.regex.test(`http://${urlHost(host)}/`) ||
        pattern.regex.test(`https://${urlHost(host)}/`)
      );
    case 'cidr':
      return cidrContains(pattern.cidr, host);
    case 'port':
      return port === pattern.port;
  }
}
