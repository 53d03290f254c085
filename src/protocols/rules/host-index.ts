import type { Cidr } from './cidr.js';
import { cidrContains } from './cidr.js';
import type { RuleHost } from './host.js';
import { urlHost } from './host.js';
import type { HostPattern } from './pattern.js';

/**
 * A set of patterns compiled for lookup by host rather than a scan of every
 * rule: a 6,000-rule gfwlist is almost all `||domain`, `.domain` and
 * `|http://host` rules, which land in hash maps probed once per label of the
 * host. Only substring, regex and network rules (a few dozen in practice) are
 * tested one by one.
 *
 * `find` returns one matching value (the first added among those the cheapest
 * structure finds), or undefined. It must agree with `patternMatches` on
 * whether anything matches; a property test checks that.
 */
export class HostIndex<T> {
  /** domain → value for `domain` patterns (the domain itself and its subdomains). */
  readonly domains = new Map<string, T>();
  /** domain → value for `subdomain` patterns. */
  readonly subdomains = new Map<string, T>();
  /** host → value for `exact` patterns. */
  readonly exact = new Map<string, T>();
  /**
   * `ends-with` patterns keyed by the last label of their text when the text
   * holds a dot (the host's last label must then be that label); the rest,
   * keyed by '', are scanned.
   */
  readonly endsWith = new Map<string, [string, T][]>();
  readonly contains: [string, T][] = [];
  readonly regexes: [RegExp, 'host' | 'url', T][] = [];
  readonly cidrs: [Cidr, T][] = [];
  readonly ports = new Map<number, T>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(pattern: HostPattern, value: T): void {
    this.#size++;
    switch (pattern.kind) {
      case 'domain':
        if (!this.domains.has(pattern.domain)) this.domains.set(pattern.domain, value);
        return;
      case 'subdomain':
        if (!this.subdomains.has(pattern.domain)) this.subdomains.set(pattern.domain, value);
        return;
      case 'exact':
        if (!this.exact.has(pattern.host)) this.exact.set(pattern.host, value);
        return;
      case 'ends-with': {
        const key = endsWithKey(pattern.text);
        let list = this.endsWith.get(key);
        if (!list) {
          list = [];
          this.endsWith.set(key, list);
        }
        list.push([pattern.text, value]);
        return;
      }
      case 'contains':
        this.contains.push([pattern.text, value]);
        return;
      case 'regex':
        this.regexes.push([pattern.regex, pattern.scope, value]);
        return;
      case 'cidr':
        this.cidrs.push([pattern.cidr, value]);
        return;
      case 'port':
        if (!this.ports.has(pattern.port)) this.ports.set(pattern.port, value);
        return;
    }
  }

  find(host: RuleHost, port: number): T | undefined {
    const name = host.name;
    const hit = this.exact.get(name) ?? this.domains.get(name) ?? this.ports.get(port);
    if (hit !== undefined) return hit;
    if (host.family === 0) {
      // Each proper suffix at a dot boundary: b.example.com, example.com, com.
      for (let dot = name.indexOf('.'); dot >= 0; dot = name.indexOf('.', dot + 1)) {
        const suffix = name.slice(dot + 1);
        const v = this.domains.get(suffix) ?? this.subdomains.get(suffix);
        if (v !== undefined) return v;
      }
    } else {
      for (const [cidr, v] of this.cidrs) if (cidrContains(cidr, host)) return v;
    }
    const lastDot = name.lastIndexOf('.');
    if (lastDot >= 0) {
      for (const [text, v] of this.endsWith.get(name.slice(lastDot + 1)) ?? []) {
        if (name.endsWith(text)) return v;
      }
    }
    for (const [text, v] of this.endsWith.get('') ?? []) if (name.endsWith(text)) return v;
    for (const [text, v] of this.contains) if (name.includes(text)) return v;
    if (this.regexes.length > 0) {
      const inUrl = urlHost(host);
      const http = `http://${inUrl}/`;
      const https = `https://${inUrl}/`;
      for (const [re, scope, v] of this.regexes) {
        if (re.test(name) || (scope === 'url' && (re.test(http) || re.test(https)))) return v;
      }
    }
    return undefined;
  }
}

/**
 * The bucket of an ends-with text: its last label when it holds a dot (a host
 * ending with `ample.co.uk` ends with the label `uk`), else '' (scanned).
 */
export function endsWithKey(text: string): string {
  const dot = text.lastIndexOf('.');
  return dot >= 0 ? text.slice(dot + 1) : '';
}
