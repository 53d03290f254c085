import { CHECK_SYNTAX } from '../../lb/health-config.js';
import { METHOD_NAMES } from '../../lb/selection-method.js';

/**
 * Every word of the command language, with its full and short spelling and a
 * one-line description. The parser, the validator and `help`/`man` all read
 * these tables, so the docs cannot drift from what parses.
 */
export interface Keyword<N extends string = string> {
  readonly full: N;
  readonly short?: string;
  readonly description: string;
}

function table<N extends string>(entries: readonly Keyword<N>[]): ReadonlyMap<string, Keyword<N>> {
  const map = new Map<string, Keyword<N>>();
  for (const k of entries) {
    map.set(k.full, k);
    if (k.short !== undefined) map.set(k.short, k);
  }
  return map;
}

export type Action = 'add' | 'list' | 'list-detail' | 'update' | 'remove' | 'force-remove';

export const ACTIONS = table<Action>([
  { full: 'add', short: 'a', description: 'create a resource, or attach it with "to"' },
  { full: 'list', short: 'l', description: 'list names (or a count / a number)' },
  { full: 'list-detail', short: 'L', description: 'list resources with their parameters' },
  { full: 'update', short: 'u', description: 'change parameters of a resource' },
  {
    full: 'remove',
    short: 'r',
    description: 'remove a resource (after usage checks), or detach it with "from"',
  },
  {
    full: 'force-remove',
    short: 'R',
    description:
      'close connections/sessions; for resources the same as remove (refused while in use, never cascades)',
  },
]);

export type ResourceType =
  | 'tcp-lb'
  | 'socks5-server'
  | 'udp-lb'
  | 'event-loop-group'
  | 'event-loop'
  | 'upstream'
  | 'server-group'
  | 'server'
  | 'socks5-user'
  | 'security-group'
  | 'security-group-rule'
  | 'cert-key'
  | 'smart-node-delegate'
  | 'smart-group-delegate'
  | 'resp-controller'
  | 'http-controller'
  | 'server-sock'
  | 'connection'
  | 'session'
  | 'bytes-in'
  | 'bytes-out'
  | 'accepted-conn-count';

export const TYPES = table<ResourceType>([
  { full: 'tcp-lb', short: 'tl', description: 'a TCP load balancer: listener -> upstream' },
  {
    full: 'socks5-server',
    short: 'socks5',
    description: 'a socks5 proxy whose targets are backends of an upstream',
  },
  {
    full: 'udp-lb',
    short: 'ul',
    description: 'a UDP load balancer: datagram listener -> upstream, one flow per client address',
  },
  { full: 'event-loop-group', short: 'elg', description: 'a named group of event loops' },
  { full: 'event-loop', short: 'el', description: 'an event loop inside a group' },
  { full: 'upstream', short: 'ups', description: 'weighted server groups, chosen by hint' },
  {
    full: 'server-group',
    short: 'sg',
    description: 'health-checked servers and a balancing method',
  },
  { full: 'server', short: 'svr', description: 'one backend address in a server group' },
  {
    full: 'socks5-user',
    short: 's5u',
    description: 'a username and password of a socks5-server; any user turns on RFC 1929 auth',
  },
  {
    full: 'security-group',
    short: 'secg',
    description: 'ordered allow/deny rules on client networks',
  },
  { full: 'security-group-rule', short: 'secgr', description: 'a rule of a security group' },
  {
    full: 'cert-key',
    short: 'ck',
    description: 'a certificate chain and its private key (PEM files)',
  },
  {
    full: 'smart-node-delegate',
    short: 'snd',
    description: 'publishes a local service (service, zone, address, port) in the service registry',
  },
  {
    full: 'smart-group-delegate',
    short: 'sgd',
    description: 'keeps a server-group equal to the instances of a service in the registry',
  },
  {
    full: 'resp-controller',
    description: 'a RESP (redis-cli) port that runs commands, behind a password',
  },
  {
    full: 'http-controller',
    description: 'an HTTP port: REST API, status page and metrics, behind a bearer token',
  },
  { full: 'server-sock', short: 'ss', description: 'a listening socket (inspection)' },
  {
    full: 'connection',
    short: 'conn',
    description: 'a live connection (inspection, force-remove closes)',
  },
  {
    full: 'session',
    short: 'sess',
    description: 'a client/backend connection pair (inspection, force-remove closes)',
  },
  { full: 'bytes-in', short: 'bin', description: 'bytes received (inspection)' },
  { full: 'bytes-out', short: 'bout', description: 'bytes sent (inspection)' },
  {
    full: 'accepted-conn-count',
    description: 'connections accepted by a server-sock (inspection)',
  },
]);

export type Param =
  | 'timeout'
  | 'fin-timeout'
  | 'retries'
  | 'access-log'
  | 'period'
  | 'up'
  | 'down'
  | 'event-loop-group'
  | 'acceptor-elg'
  | 'address'
  | 'upstream'
  | 'in-buffer-size'
  | 'out-buffer-size'
  | 'method'
  | 'weight'
  | 'security-group'
  | 'default'
  | 'network'
  | 'protocol'
  | 'port-range'
  | 'check'
  | 'cert'
  | 'key'
  | 'cert-key'
  | 'password'
  | 'token'
  | 'service'
  | 'zone'
  | 'nic'
  | 'port'
  | 'ip-type'
  | 'server-group'
  | 'max-flows'
  | 'max-associations'
  | 'udp-timeout';

export const PARAMS = table<Param>([
  {
    full: 'timeout',
    description: 'milliseconds (idle timeout of a listener; probe timeout of a health check)',
  },
  {
    full: 'fin-timeout',
    description:
      'milliseconds a half-closed session (one side sent FIN) may stay silent before it closes; 0 = off',
  },
  {
    full: 'retries',
    description:
      'a failed backend connect is retried on another server this many times before the client sees it; 0 = never',
  },
  {
    full: 'access-log',
    description:
      'on: one log line per closed session (client, backend, bytes each way, duration, close reason); off',
  },
  { full: 'period', description: 'milliseconds between two health checks' },
  { full: 'up', description: 'successful checks before a server is UP' },
  { full: 'down', description: 'failed checks before a server is DOWN' },
  {
    full: 'event-loop-group',
    short: 'elg',
    description: 'the event loop group that runs the resource',
  },
  {
    full: 'acceptor-elg',
    short: 'aelg',
    description: 'the event loop group that accepts connections',
  },
  {
    full: 'address',
    short: 'addr',
    description: 'a transport address: host:port, tcp://, tls://, kcp://, ws://…',
  },
  { full: 'upstream', short: 'ups', description: 'the upstream whose servers receive the traffic' },
  {
    full: 'in-buffer-size',
    short: 'inbuffersize',
    description: 'bytes buffered from the client side',
  },
  {
    full: 'out-buffer-size',
    short: 'outbuffersize',
    description: 'bytes buffered towards the client side',
  },
  { full: 'method', short: 'meth', description: `balancing method: ${METHOD_NAMES.join(', ')}` },
  { full: 'weight', short: 'w', description: 'relative weight; 0 drains' },
  {
    full: 'security-group',
    short: 'secg',
    description: 'the security group checked at accept time',
  },
  { full: 'default', short: 'secgrdefault', description: 'allow or deny' },
  { full: 'network', short: 'net', description: 'a CIDR, e.g. 10.0.0.0/8 or ::1/128' },
  { full: 'protocol', description: 'tcp or udp (rules); tcp (listeners)' },
  {
    full: 'port-range',
    short: 'portrange',
    description: 'min,max of the listening port a rule matches',
  },
  {
    full: 'check',
    description: `health check: ${CHECK_SYNTAX} (udp: any answer is UP, HEX is the probe)`,
  },
  { full: 'cert', description: 'comma-separated PEM certificate files' },
  { full: 'key', description: 'PEM private key file' },
  {
    full: 'cert-key',
    short: 'ck',
    description: 'comma-separated cert-key names (TLS termination)',
  },
  {
    full: 'password',
    short: 'pass',
    description:
      "a socks5 user's or a resp-controller's password: 1-255 printable ASCII characters, no spaces (never listed)",
  },
  {
    full: 'token',
    description: "an http-controller's bearer token: printable ASCII, no spaces (never listed)",
  },
  { full: 'service', description: 'a service name in the registry (1-128 of A-Za-z0-9._:@[]-)' },
  { full: 'zone', description: 'a zone of a service in the registry (same characters)' },
  { full: 'nic', description: 'network interface whose address is published (or give address)' },
  {
    full: 'port',
    description: 'the published port; 0 picks a free one in 10000-29999 (see list-detail)',
  },
  { full: 'ip-type', description: 'v4 or v6: which address of the nic is published' },
  {
    full: 'server-group',
    description: 'the server-group a smart-group-delegate keeps in sync with the registry',
  },
  {
    full: 'max-flows',
    short: 'maxflows',
    description: 'udp-lb: flows (client addresses) at once; datagrams opening more are refused',
  },
  {
    full: 'max-associations',
    short: 'maxassociations',
    description:
      'socks5: UDP associations alive at once (per worker process); more are refused (NOT_ALLOWED)',
  },
  {
    full: 'udp-timeout',
    short: 'udptimeout',
    description: 'socks5: milliseconds an association may pass no datagram before it closes',
  },
]);

/**
 * Params whose values are secrets: errors, listings and echoed command lines
 * never show them (`list config` and saved files are the only places they appear).
 */
export const SECRET_PARAMS: ReadonlySet<Param> = new Set<Param>(['password', 'token']);

/** What a secret value is shown as; the password check refuses it as a value. */
export const SECRET_MASK = '******';

export type Flag = 'allow-non-backend' | 'deny-non-backend' | 'allow-udp' | 'deny-udp';

export const FLAGS = table<Flag>([
  { full: 'allow-non-backend', short: 'allownonbackend', description: 'socks5: reach any target' },
  {
    full: 'deny-non-backend',
    short: 'denynonbackend',
    description: 'socks5: only reach backends of the upstream (default)',
  },
  {
    full: 'allow-udp',
    short: 'allowudp',
    description: 'socks5: serve UDP ASSOCIATE (same target rules as CONNECT)',
  },
  { full: 'deny-udp', short: 'denyudp', description: 'socks5: refuse UDP ASSOCIATE (default)' },
]);

export type Preposition = 'to' | 'from';

/** Every word a name or value may not be, so that a command never reads two ways. */
export const RESERVED: ReadonlySet<string> = new Set([
  ...ACTIONS.keys(),
  ...TYPES.keys(),
  ...PARAMS.keys(),
  ...FLAGS.keys(),
  'in',
  'to',
  'from',
]);
