import { VproxyError } from '../fd/errors.js';
import { matchLevel, NO_MATCH, normalizePattern, parseHint } from './host-match.js';
import { checkName } from './names.js';
import type { ClientAddress } from './selection-method.js';
import { checkWeight, DEFAULT_WEIGHT, type Server } from './server.js';
import { SmoothWeighted, type WeightedCandidate } from './smooth-weighted.js';

/** What an upstream needs of a server group. */
export interface BackendGroup {
  readonly name: string;
  /** Has a server that `next()` can return now. */
  readonly available: boolean;
  /**
   * `hint` is given as null (the upstream routed on it); `exclude`: servers not
   * to return (a redispatch skips those that already failed).
   */
  next(
    clientAddress: ClientAddress,
    hint?: string | null,
    exclude?: (server: Server) => boolean,
  ): Server | null;
}

export interface UpstreamMemberOptions {
  /** Share of hint-less traffic among groups (wrr); default 10, 0 = only reachable by hint. */
  readonly weight?: number;
  /** Host names whose hints route here, besides the group's own name (see host-match.ts). */
  readonly hosts?: readonly string[];
  /**
   * A default group takes the traffic whose hint matches no group (and hint-less
   * traffic). With no default group, that traffic is spread over all groups.
   */
  readonly isDefault?: boolean;
}

/** One group's place in an upstream. */
export class UpstreamMember implements WeightedCandidate {
  readonly group: BackendGroup;
  weight: number;
  hosts: readonly string[];
  isDefault: boolean;

  constructor(group: BackendGroup, options: UpstreamMemberOptions) {
    this.group = group;
    this.weight = checkWeight(options.weight ?? DEFAULT_WEIGHT);
    this.hosts = (options.hosts ?? []).map(normalizePattern);
    this.isDefault = options.isDefault ?? false;
  }

  get available(): boolean {
    return this.group.available;
  }
}

/**
 * Named, ordered, weighted server groups. A hint picks its group by name or
 * `hosts` (exact, then longest suffix); everything else goes by smooth
 * weighted round robin over the default groups (or all groups when none is
 * marked default), skipping groups with no available server.
 */
export class Upstream {
  readonly name: string;
  #members: readonly UpstreamMember[] = [];
  readonly #swrr: SmoothWeighted<UpstreamMember>;

  constructor(name: string, random: () => number = Math.random) {
    this.name = checkName('upstream', name);
    this.#swrr = new SmoothWeighted<UpstreamMember>(random);
  }

  members(): readonly UpstreamMember[] {
    return this.#members;
  }

  get(groupName: string): UpstreamMember | undefined {
    return this.#members.find((m) => m.group.name === groupName);
  }

  /** Add a group (once per upstream). */
  add(group: BackendGroup, options: UpstreamMemberOptions = {}): UpstreamMember {
    if (this.get(group.name) !== undefined) {
      throw new VproxyError(
        'ERR_ALREADY_EXISTS',
        `upstream ${this.name} already has server group ${group.name}`,
      );
    }
    const member = new UpstreamMember(group, options);
    this.#members = [...this.#members, member];
    this.#swrr.reset();
    return member;
  }

  remove(groupName: string): void {
    const member = this.#mustGet(groupName);
    this.#members = this.#members.filter((m) => m !== member);
    this.#swrr.forget(member);
    this.#swrr.reset();
  }

  /** Change a member's weight, hosts or default flag (fields not given are kept). */
  update(groupName: string, options: UpstreamMemberOptions): void {
    const member = this.#mustGet(groupName);
    if (options.weight !== undefined) member.weight = checkWeight(options.weight);
    if (options.hosts !== undefined) member.hosts = options.hosts.map(normalizePattern);
    if (options.isDefault !== undefined) member.isDefault = options.isDefault;
    this.#swrr.reset();
  }

  /**
   * The group a hint routes to, or null when it matches none. Weight-0 groups
   * can match: a weight only shares out hint-less traffic.
   */
  match(hint: string): UpstreamMember | null {
    const parsed = parseHint(hint);
    if (parsed === null) return null;
    let best: UpstreamMember | null = null;
    let bestLevel = NO_MATCH;
    for (const m of this.#members) {
      let level = matchLevel(parsed, normalizePattern(m.group.name));
      for (const h of m.hosts) level = Math.max(level, matchLevel(parsed, h));
      if (level > bestLevel) {
        best = m;
        bestLevel = level;
      }
    }
    return best;
  }

  /**
   * The server for a new connection. A hint that matches a group is final:
   * that group's answer is returned even when it is null (sending a name's
   * traffic to another name's servers would be wrong).
   */
  next(
    clientAddress: ClientAddress = null,
    hint?: string | null,
    exclude?: (server: Server) => boolean,
  ): Server | null {
    if (hint) {
      const matched = this.match(hint);
      if (matched !== null) return matched.group.next(clientAddress, null, exclude);
    }
    const members = this.#members;
    const hasDefault = members.some((m) => m.isDefault);
    const member = hasDefault ? this.#swrr.pick(members, isDefault) : this.#swrr.pick(members);
    return member === null ? null : member.group.next(clientAddress, null, exclude);
  }

  get available(): boolean {
    return this.#members.some((m) => m.weight > 0 && m.available);
  }

  #mustGet(groupName: string): UpstreamMember {
    const member = this.get(groupName);
    if (member === undefined) {
      throw new VproxyError(
        'ERR_NOT_FOUND',
        `upstream ${this.name} has no server group ${groupName}`,
      );
    }
    return member;
  }
}

function isDefault(m: UpstreamMember): boolean {
  return m.isDefault;
}
