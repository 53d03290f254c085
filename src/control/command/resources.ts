import { DEFAULT_HEALTH_CHECK } from '../../lb/health-config.js';
import { LISTENER_DEFAULTS } from '../../lb/lb-listener.js';
import { DEFAULT_METHOD, METHOD_NAMES } from '../../lb/selection-method.js';
import { UDP_ASSOCIATION_DEFAULTS } from '../../lb/socks5-front.js';
import { UDP_LB_DEFAULTS } from '../../lb/udp-lb.js';
import { MAX_RETRIES } from '../../proxy/engine-options.js';
import { ACCEPTOR_ELG, ALLOW_ALL, CONTROL_ELG, WORKER_ELG } from '../store.js';
import type { Action, Flag, Param, ResourceType } from './keywords.js';
import * as check from './values.js';

/** One parameter an action takes. */
export interface ParamRule {
  readonly param: Param;
  readonly required?: boolean;
  /** Shown by `man`; the executor applies it. */
  readonly default?: string;
  readonly check: check.ValueCheck;
}

/** What one action on one resource type accepts. */
export interface ActionRule {
  /** Where the resource must be: 'top', or the type of its direct parent. */
  readonly where: readonly (ResourceType | 'top')[];
  readonly params?: readonly ParamRule[];
  readonly flags?: readonly Flag[];
  /** Parameters that must be given together (all or none). */
  readonly together?: readonly Param[];
  /** Exactly one of these must be given (smart-node-delegate: nic or address). */
  readonly oneOf?: readonly Param[];
  readonly description: string;
}

/** Per action, one rule per place the resource can be (server-group: top, or in an upstream). */
export type ResourceRules = Partial<Record<Action, readonly ActionRule[]>>;

const ms = check.intIn(0, 2_147_483_647);
const count = check.intIn(1, 1_000_000);
const bufferSize = check.intIn(1, 67_108_864);
const weight = check.intIn(0, 1000);
const retries = check.intIn(0, MAX_RETRIES);
const password = check.secret(check.rfc1929('password'));
/**
 * Each association is a bound UDP socket, so one local port: more than the
 * port space could never be alive, and a bound that high is a typo.
 */
export const MAX_ASSOCIATIONS_LIMIT = 65_535;
const associations = check.intIn(1, MAX_ASSOCIATIONS_LIMIT);
/** Expiry is sampled once per timeout: under a second only closes associations between datagrams. */
const udpTimeout = check.intIn(1_000, 2_147_483_647);

const socks5Udp = (defaults: boolean): readonly ParamRule[] => [
  {
    param: 'max-associations',
    ...(defaults ? { default: String(UDP_ASSOCIATION_DEFAULTS.max) } : {}),
    check: associations,
  },
  {
    param: 'udp-timeout',
    ...(defaults ? { default: String(UDP_ASSOCIATION_DEFAULTS.idleTimeoutMs) } : {}),
    check: udpTimeout,
  },
];

/** A server's or server-group's weight unless told otherwise. */
export const DEFAULT_WEIGHT = 10;

/**
 * Resource names are checked by `check.name`, except these: a socks5 user name
 * is an RFC 1929 UNAME (up to 255 bytes, commas allowed), never part of a list.
 */
export const NAME_CHECKS: Partial<Record<ResourceType, check.ValueCheck>> = {
  'socks5-user': check.rfc1929('user name'),
};

const listenerAdd = (extra: readonly ParamRule[]): readonly ParamRule[] => [
  { param: 'address', required: true, check: check.address },
  { param: 'upstream', required: true, check: check.name },
  { param: 'acceptor-elg', default: ACCEPTOR_ELG, check: check.name },
  { param: 'event-loop-group', default: WORKER_ELG, check: check.name },
  { param: 'in-buffer-size', default: String(LISTENER_DEFAULTS.inBufferSize), check: bufferSize },
  { param: 'out-buffer-size', default: String(LISTENER_DEFAULTS.outBufferSize), check: bufferSize },
  { param: 'timeout', default: String(LISTENER_DEFAULTS.idleTimeoutMs), check: ms },
  { param: 'fin-timeout', default: String(LISTENER_DEFAULTS.finTimeoutMs), check: ms },
  { param: 'retries', default: String(LISTENER_DEFAULTS.retries), check: retries },
  { param: 'access-log', default: 'off', check: check.oneOf('on', 'off') },
  { param: 'security-group', default: ALLOW_ALL, check: check.name },
  ...extra,
];

const listenerUpdate: readonly ParamRule[] = [
  { param: 'in-buffer-size', check: bufferSize },
  { param: 'out-buffer-size', check: bufferSize },
  { param: 'timeout', check: ms },
  { param: 'fin-timeout', check: ms },
  { param: 'retries', check: retries },
  { param: 'access-log', check: check.oneOf('on', 'off') },
  { param: 'security-group', check: check.name },
];

const healthParams = (required: boolean): readonly ParamRule[] => [
  { param: 'timeout', required, check: ms },
  { param: 'period', required, check: check.intIn(1, 2_147_483_647) },
  { param: 'up', required, check: count },
  { param: 'down', required, check: count },
  { param: 'method', default: DEFAULT_METHOD, check: check.oneOf(...METHOD_NAMES) },
  { param: 'check', default: DEFAULT_HEALTH_CHECK.check.kind, check: check.healthCheck },
];

const simple = (where: readonly (ResourceType | 'top')[], what: string): ResourceRules => ({
  list: [{ where, description: `list ${what} names` }],
  'list-detail': [{ where, description: `list ${what} with details` }],
  remove: [{ where, description: `remove a ${what} (refused while it is in use)` }],
  // Refused like remove while in use: a cascade would take listeners down, a
  // dangling reference would leave a config that does not load.
  'force-remove': [{ where, description: `same as remove: refused while it is in use` }],
});

const inspect = (
  where: readonly ResourceType[],
  what: string,
  closable: boolean,
): ResourceRules => ({
  list: [{ where, description: `count ${what}` }],
  'list-detail': [{ where, description: `list ${what}` }],
  ...(closable
    ? { 'force-remove': [{ where, description: `close ${what} by exact id or /regex/` }] }
    : {}),
});

/**
 * A controller (the daemon's SystemHooks run it): without a secret the stored
 * one is used. Added over RESP/HTTP it listens on loopback only.
 */
const controller = (what: string, secret: ParamRule): ResourceRules => ({
  list: [{ where: ['top'], description: `list ${what} names` }],
  'list-detail': [{ where: ['top'], description: `list ${what}s with their addresses` }],
  add: [
    {
      where: ['top'],
      params: [{ param: 'address', required: true, check: check.address }, secret],
      description: `start a ${what} (without ${secret.param}: the stored one)`,
    },
  ],
  remove: [{ where: ['top'], description: `stop a ${what}` }],
});

const number = (where: readonly ResourceType[], what: string): ResourceRules => ({
  list: [{ where, description: what }],
  'list-detail': [{ where, description: what }],
});

/** The whole resource model: which action applies where, with which parameters. */
export const RESOURCES: Readonly<Record<ResourceType, ResourceRules>> = {
  'tcp-lb': {
    ...simple(['top'], 'tcp-lb'),
    add: [
      {
        where: ['top'],
        params: listenerAdd([
          { param: 'protocol', default: 'tcp', check: check.oneOf('tcp') },
          { param: 'cert-key', check: check.list },
        ]),
        description: 'create a tcp load balancer',
      },
    ],
    update: [
      {
        where: ['top'],
        params: listenerUpdate,
        description: 'change buffers, timeouts, retries, access log or security group',
      },
    ],
  },
  'socks5-server': {
    ...simple(['top'], 'socks5-server'),
    add: [
      {
        where: ['top'],
        params: listenerAdd(socks5Udp(true)),
        flags: ['allow-non-backend', 'deny-non-backend', 'allow-udp', 'deny-udp'],
        description: 'create a socks5 server',
      },
    ],
    update: [
      {
        where: ['top'],
        params: [...listenerUpdate, ...socks5Udp(false)],
        flags: ['allow-non-backend', 'deny-non-backend', 'allow-udp', 'deny-udp'],
        description:
          'change buffers, timeouts, retries, access log, security group, backend policy or udp;' +
          ' a lower max-associations refuses new ones until enough close, udp-timeout applies to new ones',
      },
    ],
  },
  'udp-lb': {
    ...simple(['top'], 'udp-lb'),
    add: [
      {
        where: ['top'],
        params: [
          { param: 'address', required: true, check: check.address },
          { param: 'upstream', required: true, check: check.name },
          { param: 'timeout', default: String(UDP_LB_DEFAULTS.idleTimeoutMs), check: ms },
          { param: 'max-flows', default: String(UDP_LB_DEFAULTS.maxFlows), check: count },
          { param: 'security-group', default: ALLOW_ALL, check: check.name },
        ],
        description: 'create a udp load balancer (address udp://host:port)',
      },
    ],
    update: [
      {
        where: ['top'],
        params: [
          { param: 'timeout', check: ms },
          { param: 'max-flows', check: count },
          { param: 'security-group', check: check.name },
        ],
        description: 'change the flow idle timeout, the flow bound or the security group',
      },
    ],
  },
  'event-loop-group': {
    ...simple(['top'], 'event-loop-group'),
    add: [{ where: ['top'], description: 'create an event loop group' }],
  },
  'event-loop': {
    ...simple(['event-loop-group'], 'event-loop'),
    add: [{ where: ['event-loop-group'], description: 'add an event loop to a group' }],
  },
  upstream: {
    ...simple(['top'], 'upstream'),
    add: [{ where: ['top'], description: 'create an upstream' }],
  },
  'server-group': {
    list: [{ where: ['top', 'upstream'], description: 'list server-group names' }],
    'list-detail': [{ where: ['top', 'upstream'], description: 'list server-groups with details' }],
    add: [
      {
        where: ['top'],
        params: [
          ...healthParams(true),
          { param: 'event-loop-group', default: CONTROL_ELG, check: check.name },
        ],
        description: 'create a server group with its health check and balancing method',
      },
      {
        where: ['upstream'],
        params: [{ param: 'weight', default: String(DEFAULT_WEIGHT), check: weight }],
        description: 'attach a server group to an upstream',
      },
    ],
    update: [
      {
        where: ['top'],
        params: healthParams(false),
        together: ['timeout', 'period', 'up', 'down'],
        description: 'change the health check (all four together) and/or the method',
      },
      {
        where: ['upstream'],
        params: [{ param: 'weight', required: true, check: weight }],
        description: 'change the weight of a server group in an upstream',
      },
    ],
    remove: [
      { where: ['top'], description: 'remove a server group (refused while an upstream uses it)' },
      { where: ['upstream'], description: 'detach a server group from an upstream' },
    ],
    'force-remove': [
      { where: ['top'], description: 'same as remove: refused while an upstream uses it' },
      { where: ['upstream'], description: 'detach a server group from an upstream' },
    ],
  },
  server: {
    ...simple(['server-group'], 'server'),
    add: [
      {
        where: ['server-group'],
        params: [
          { param: 'address', required: true, check: check.address },
          { param: 'weight', default: String(DEFAULT_WEIGHT), check: weight },
        ],
        description: 'add a backend to a server group',
      },
    ],
    update: [
      {
        where: ['server-group'],
        params: [{ param: 'weight', required: true, check: weight }],
        description: 'change the weight of a server (0 drains it)',
      },
    ],
  },
  'socks5-user': {
    list: [{ where: ['socks5-server'], description: 'list socks5-user names' }],
    // Names only, like list: a password is never shown.
    'list-detail': [{ where: ['socks5-server'], description: 'list socks5-user names' }],
    remove: [
      {
        where: ['socks5-server'],
        description: 'remove a user; with none left the socks5-server takes no authentication',
      },
    ],
    'force-remove': [{ where: ['socks5-server'], description: 'remove a user (same as remove)' }],
    add: [
      {
        where: ['socks5-server'],
        params: [{ param: 'password', required: true, check: password }],
        description: 'let a user in: the socks5-server then requires username/password',
      },
    ],
    update: [
      {
        where: ['socks5-server'],
        params: [{ param: 'password', required: true, check: password }],
        description: 'change the password of a user (applies to new handshakes)',
      },
    ],
  },
  'security-group': {
    ...simple(['top'], 'security-group'),
    add: [
      {
        where: ['top'],
        params: [{ param: 'default', required: true, check: check.oneOf('allow', 'deny') }],
        description: 'create a security group',
      },
    ],
    update: [
      {
        where: ['top'],
        params: [{ param: 'default', required: true, check: check.oneOf('allow', 'deny') }],
        description: 'change the default of a security group',
      },
    ],
  },
  'security-group-rule': {
    ...simple(['security-group'], 'security-group-rule'),
    add: [
      {
        where: ['security-group'],
        params: [
          { param: 'network', required: true, check: check.network },
          { param: 'protocol', required: true, check: check.oneOf('tcp', 'udp', 'TCP', 'UDP') },
          { param: 'port-range', required: true, check: check.portRange },
          { param: 'default', required: true, check: check.oneOf('allow', 'deny') },
        ],
        description: 'append a rule to a security group',
      },
    ],
  },
  'cert-key': {
    ...simple(['top'], 'cert-key'),
    add: [
      {
        where: ['top'],
        params: [
          { param: 'cert', required: true, check: check.list },
          { param: 'key', required: true, check: check.list },
        ],
        description: 'load a certificate chain and key from PEM files',
      },
    ],
  },
  'smart-node-delegate': {
    ...simple(['top'], 'smart-node-delegate'),
    add: [
      {
        where: ['top'],
        params: [
          { param: 'service', required: true, check: check.meshSegment },
          { param: 'zone', required: true, check: check.meshSegment },
          { param: 'nic', check: check.name },
          { param: 'address', check: check.ip },
          { param: 'port', default: '0', check: check.intIn(0, 65535) },
          { param: 'ip-type', default: 'v4', check: check.oneOf('v4', 'v6') },
          { param: 'weight', default: String(DEFAULT_WEIGHT), check: weight },
        ],
        oneOf: ['nic', 'address'],
        description:
          'publish a local service (nic or address, port) while this daemon lives; removed on remove and clean stop',
      },
    ],
    update: [
      {
        where: ['top'],
        params: [{ param: 'weight', required: true, check: weight }],
        description: 'change the published weight (0 drains it on every follower)',
      },
    ],
  },
  'smart-group-delegate': {
    ...simple(['top'], 'smart-group-delegate'),
    add: [
      {
        where: ['top'],
        params: [
          { param: 'service', required: true, check: check.meshSegment },
          { param: 'zone', required: true, check: check.meshSegment },
          { param: 'server-group', required: true, check: check.name },
        ],
        description:
          'keep a server-group equal to the registered instances of service + zone (its health checks still decide UP/DOWN)',
      },
    ],
  },
  'resp-controller': controller('resp-controller', { param: 'password', check: password }),
  'http-controller': controller('http-controller', {
    param: 'token',
    check: check.secret(() => null),
  }),
  'server-sock': inspect(['tcp-lb', 'socks5-server'], 'listening sockets', false),
  connection: inspect(['tcp-lb', 'socks5-server'], 'connections', true),
  session: inspect(['tcp-lb', 'socks5-server'], 'sessions', true),
  'bytes-in': number(['server-sock', 'connection', 'server'], 'bytes received'),
  'bytes-out': number(['server-sock', 'connection', 'server'], 'bytes sent'),
  'accepted-conn-count': number(['server-sock'], 'connections accepted'),
};

/**
 * Where a resource that is itself a parent lives: `in server X` needs
 * `in server-group G` after it, `in server-sock S` the listener. `man` and the
 * README print the whole chain so that every form they show runs as shown.
 */
export const LIVES_IN: Partial<Record<ResourceType, readonly ResourceType[]>> = {
  server: ['server-group'],
  'server-sock': ['tcp-lb', 'socks5-server'],
  connection: ['tcp-lb', 'socks5-server'],
};

/**
 * The parent chains of a rule as text (`connection <name> in tcp-lb|socks5-server <name>`):
 * places that live in the same parents share one chain, the others get their own.
 */
export function parentChains(rule: ActionRule): string[] {
  const byAncestors = new Map<string, string[]>();
  for (const place of rule.where) {
    if (place === 'top') continue;
    const above = LIVES_IN[place]?.join('|') ?? '';
    byAncestors.set(above, [...(byAncestors.get(above) ?? []), place]);
  }
  return [...byAncestors].map(
    ([above, places]) => `${places.join('|')} <name>${above === '' ? '' : ` in ${above} <name>`}`,
  );
}
