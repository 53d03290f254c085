import { UDP_LB_DEFAULTS } from '../../lb/udp-lb.js';
import { ALLOW_ALL, CONTROL_ELG } from '../store.js';
import { controller, inspect, number, type ResourceRules, simple } from './action-rules.js';
import type { ResourceType } from './keywords.js';
import {
  count,
  DEFAULT_WEIGHT,
  healthParams,
  listenerAdd,
  listenerUpdate,
  ms,
  password,
  socks5Udp,
  weight,
} from './shared-params.js';
import * as check from './values.js';

// The resource model is the table below; the rule shapes (action-rules.ts),
// the parameters resources share (shared-params.ts) and where resources live
// (parent-chains.ts) are beside it, and re-exported here for its importers.
export type { ActionRule, ParamRule, ResourceRules } from './action-rules.js';
export { LIVES_IN, parentChains } from './parent-chains.js';
export { DEFAULT_WEIGHT, MAX_ASSOCIATIONS_LIMIT } from './shared-params.js';

/**
 * Resource names are checked by `check.name`, except these: a socks5 user name
 * is an RFC 1929 UNAME (up to 255 bytes, commas allowed), never part of a list.
 */
export const NAME_CHECKS: Partial<Record<ResourceType, check.ValueCheck>> = {
  'socks5-user': check.rfc1929('user name'),
};

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
