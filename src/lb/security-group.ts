import { VproxyError } from '../fd/errors.js';
import { type Cidr, cidrContains, formatCidr, parseCidr, sameCidr } from './cidr.js';
import { LbError } from './errors.js';
import { type IpAddress, parseIp } from './ip.js';
import { checkName } from './names.js';

export type Protocol = 'tcp' | 'udp';
export type RuleAction = 'allow' | 'deny';

export interface PortRange {
  readonly min: number;
  readonly max: number;
}

export interface SecurityGroupRuleSpec {
  readonly name: string;
  /** Matches the client (source) address: `10.0.0.0/8`, `2001:db8::/32`, `1.2.3.4`. */
  readonly network: string | Cidr;
  readonly protocol: Protocol | string;
  /** Matches the port the LB listens on (not the client's port): `443`, `8000-8999`. */
  readonly ports: string | PortRange;
  readonly action: RuleAction | string;
}

export interface SecurityGroupRule {
  readonly name: string;
  readonly network: Cidr;
  readonly protocol: Protocol;
  readonly ports: PortRange;
  readonly action: RuleAction;
}

/** Why a client was allowed or denied, for logs and the control plane. */
export interface Verdict {
  readonly allowed: boolean;
  /** The first rule that matched, or null when the group default decided. */
  readonly rule: string | null;
}

export function parseProtocol(text: string): Protocol {
  const p = typeof text === 'string' ? text.toLowerCase() : text;
  if (p === 'tcp' || p === 'udp') return p;
  throw new LbError(
    'ERR_PROTOCOL_INVALID',
    `invalid protocol ${JSON.stringify(text)}: expected tcp or udp`,
  );
}

export function parseAction(text: string): RuleAction {
  if (text === 'allow' || text === 'deny') return text;
  throw new VproxyError(
    'ERR_OPTION_INVALID',
    `invalid action ${JSON.stringify(text)}: expected allow or deny`,
  );
}

/** `80` or `8000-8999`, each 0..65535, min ≤ max. */
export function parsePortRange(text: string): PortRange {
  const bad = (why: string): never => {
    throw new LbError(
      'ERR_PORT_RANGE_INVALID',
      `invalid port range ${JSON.stringify(text)}: ${why}`,
    );
  };
  if (typeof text !== 'string') return bad('expected a string');
  const m = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(text);
  if (m === null) return bad('expected "port" or "min-max"');
  return checkPortRange({ min: Number(m[1]), max: Number(m[2] ?? m[1]) }, text);
}

function checkPortRange(range: PortRange, text = `${range.min}-${range.max}`): PortRange {
  const ok = (n: number) => Number.isInteger(n) && n >= 0 && n <= 65535;
  if (!ok(range.min) || !ok(range.max)) {
    throw new LbError('ERR_PORT_RANGE_INVALID', `invalid port range ${text}: ports are 0..65535`);
  }
  if (range.min > range.max) {
    throw new LbError('ERR_PORT_RANGE_INVALID', `invalid port range ${text}: min is above max`);
  }
  return { min: range.min, max: range.max };
}

/**
 * Accept-time access control: ordered rules per protocol, first match wins,
 * no match falls back to the group default. Rules match the client's address
 * (see `cidrContains` for IPv4 / IPv6 mixing) and the LB's listening port.
 */
export class SecurityGroup {
  readonly name: string;
  #defaultAction: RuleAction;
  readonly #rules: Record<Protocol, SecurityGroupRule[]> = { tcp: [], udp: [] };

  constructor(name: string, defaultAction: RuleAction | string = 'allow') {
    this.name = checkName('security group', name);
    this.#defaultAction = parseAction(defaultAction);
  }

  /** A group that allows everything (the LB default, `(allow-all)`). */
  static allowAll(): SecurityGroup {
    return new SecurityGroup('(allow-all)', 'allow');
  }

  get defaultAction(): RuleAction {
    return this.#defaultAction;
  }

  set defaultAction(action: RuleAction) {
    this.#defaultAction = parseAction(action);
  }

  /** Append a rule (it is checked after the existing ones of its protocol). */
  addRule(spec: SecurityGroupRuleSpec): SecurityGroupRule {
    const rule: SecurityGroupRule = Object.freeze({
      name: checkName('security group rule', spec.name),
      network: typeof spec.network === 'string' ? parseCidr(spec.network) : spec.network,
      protocol: parseProtocol(spec.protocol),
      ports:
        typeof spec.ports === 'string' ? parsePortRange(spec.ports) : checkPortRange(spec.ports),
      action: parseAction(spec.action),
    });
    if (this.rules().some((r) => r.name === rule.name)) {
      throw new VproxyError(
        'ERR_ALREADY_EXISTS',
        `security group ${this.name} already has a rule named ${rule.name}`,
      );
    }
    const same = this.#rules[rule.protocol].find(
      (r) =>
        sameCidr(r.network, rule.network) &&
        r.ports.min === rule.ports.min &&
        r.ports.max === rule.ports.max,
    );
    if (same !== undefined) {
      throw new VproxyError(
        'ERR_ALREADY_EXISTS',
        `security group ${this.name}: rule ${same.name} already covers ${formatCidr(rule.network)} ${rule.protocol} ${rule.ports.min}-${rule.ports.max}`,
      );
    }
    this.#rules[rule.protocol].push(rule);
    return rule;
  }

  removeRule(name: string): void {
    for (const protocol of ['tcp', 'udp'] as const) {
      const list = this.#rules[protocol];
      const index = list.findIndex((r) => r.name === name);
      if (index >= 0) {
        list.splice(index, 1);
        return;
      }
    }
    throw new VproxyError('ERR_NOT_FOUND', `security group ${this.name} has no rule named ${name}`);
  }

  /** Every rule, tcp ones first, each protocol in evaluation order. */
  rules(): SecurityGroupRule[] {
    return [...this.#rules.tcp, ...this.#rules.udp];
  }

  /**
   * The decision for a client. A client whose address is unknown or not an IP
   * matches no rule, so the default decides (deny-by-default groups deny it).
   */
  decide(client: string | IpAddress | undefined, protocol: Protocol, listenPort: number): Verdict {
    const ip = typeof client === 'string' ? parseIp(client) : (client ?? null);
    if (ip !== null) {
      for (const rule of this.#rules[protocol]) {
        if (
          listenPort >= rule.ports.min &&
          listenPort <= rule.ports.max &&
          cidrContains(rule.network, ip)
        ) {
          return { allowed: rule.action === 'allow', rule: rule.name };
        }
      }
    }
    return { allowed: this.#defaultAction === 'allow', rule: null };
  }

  allows(client: string | IpAddress | undefined, protocol: Protocol, listenPort: number): boolean {
    // Accept-path fast lane: with no rule for the protocol, the client's address is irrelevant.
    if (this.#rules[protocol].length === 0) return this.#defaultAction === 'allow';
    return this.decide(client, protocol, listenPort).allowed;
  }

  /**
   * As `allows`, for an accepted stream: its address is read only when a rule
   * needs it (a socket's `remoteAddress` is a getpeername syscall per connection).
   */
  allowsPeer(
    peer: { readonly remoteAddress?: string | undefined },
    protocol: Protocol,
    listenPort: number,
  ): boolean {
    if (this.#rules[protocol].length === 0) return this.#defaultAction === 'allow';
    return this.decide(peer.remoteAddress, protocol, listenPort).allowed;
  }
}
