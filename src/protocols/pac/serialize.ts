import type { HostIndex } from '../rules/host-index.js';

/** A HostIndex as plain data for the PAC runtime (see runtime.ts for the reader). */
export interface PacIndexData {
  /** domain → 1 (`$`-prefixed keys). */
  readonly d: Record<string, 1>;
  readonly s: Record<string, 1>;
  readonly x: Record<string, 1>;
  readonly p: Record<string, 1>;
  readonly w: Record<string, string[]>;
  readonly c: string[];
  /** [source, flags, 'h' (host) | 'u' (url forms)] */
  readonly r: [string, string, 'h' | 'u'][];
  /** [family, network bytes, prefix] */
  readonly n: [4 | 6, number[], number][];
}

function keys(map: ReadonlyMap<string | number, unknown>): Record<string, 1> {
  const out: Record<string, 1> = {};
  for (const k of map.keys()) out[`$${k}`] = 1;
  return out;
}

/**
 * The index's contents as data. The PAC runtime only needs "does anything
 * match", so values (the rules) are dropped; each regex travels as source and
 * flags and is rebuilt once when the browser loads the file.
 */
export function indexData(index: HostIndex<unknown>): PacIndexData {
  const w: Record<string, string[]> = {};
  for (const [k, list] of index.endsWith) w[`$${k}`] = list.map(([text]) => text);
  return {
    d: keys(index.domains),
    s: keys(index.subdomains),
    x: keys(index.exact),
    p: keys(index.ports),
    w,
    c: index.contains.map(([text]) => text),
    r: index.regexes.map(([re, scope]) => [
      re.source,
      re.flags.replace(/[gy]/g, ''),
      scope === 'host' ? 'h' : 'u',
    ]),
    n: index.cidrs.map(([cidr]) => [cidr.family, Array.from(cidr.bytes), cidr.prefix]),
  };
}
