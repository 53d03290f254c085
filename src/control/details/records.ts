// What `list-detail` knows about each kind of resource, as typed records. The
// handlers build a record once; the text line RESP and StdIO print and the
// JSON object REST answers are both rendered from it, so the two cannot drift.
//
// Keys are the command language's parameter names (`acceptor-elg`,
// `fin-timeout`, `port-range`, …) with JSON types: the writable keys of a
// GET answer are what POST / PUT accept. Secrets are never part of a record.

/** A text line, or a tuple (a session's two connections); the executor's ListItem. */
export type DetailText = string | readonly string[];

export interface NameDetail {
  readonly name: string;
}

/** What tcp-lb and socks5-server share: the listener and its engine settings. */
export interface ListenerDetail {
  readonly name: string;
  readonly 'acceptor-elg': string;
  readonly 'event-loop-group': string;
  /** The listening socket's id (server-sock name): the bound address, the port resolved. */
  readonly bind: string;
  /** The address as given to `add`. */
  readonly address: string;
  readonly upstream: string;
  readonly timeout: number;
  readonly 'fin-timeout': number;
  readonly retries: number;
  readonly 'access-log': 'on' | 'off';
  readonly 'in-buffer-size': number;
  readonly 'out-buffer-size': number;
  readonly 'security-group': string;
  /** Absent without TLS. */
  readonly 'cert-key'?: string;
}

export interface TcpLbDetail extends ListenerDetail {
  readonly protocol: 'tcp';
}

export interface Socks5ServerDetail extends ListenerDetail {
  readonly 'allow-non-backend': boolean;
  /** UDP ASSOCIATE served (same target rules as CONNECT). */
  readonly 'allow-udp': boolean;
  /** UDP associations alive at once (on worker processes: in each). */
  readonly 'max-associations': number;
  /** Milliseconds an association may pass no datagram before it closes. */
  readonly 'udp-timeout': number;
  /** UDP associations alive now (on worker processes: all of theirs). Not in the text line. */
  readonly 'udp-associations'?: number;
  /** UDP ASSOCIATE requests refused because the associations were at their limit. */
  readonly 'udp-associations-refused'?: number;
}

/** A udp-lb: its settings, and its flow table as of now. */
export interface UdpLbDetail {
  readonly name: string;
  /** The bound udp host:port (the port resolved). */
  readonly bind: string;
  readonly address: string;
  readonly upstream: string;
  readonly timeout: number;
  readonly 'max-flows': number;
  readonly 'security-group': string;
  /** Flows alive now. */
  readonly flows: number;
  /** New flows refused (table full, security group, no backend). */
  readonly refused: number;
}

export interface ServerGroupDetail {
  readonly name: string;
  readonly timeout: number;
  readonly period: number;
  readonly up: number;
  readonly down: number;
  readonly method: string;
  readonly check: string;
  readonly 'event-loop-group': string;
}

/**
 * A server-group as attached to an upstream. The group's own fields are
 * optional only because an upstream could, in principle, hold a group the
 * store no longer lists; then just its name and weight are known.
 */
export interface UpstreamServerGroupDetail extends Partial<ServerGroupDetail> {
  readonly name: string;
  readonly weight: number;
}

export interface ServerDetail {
  readonly name: string;
  readonly address: string;
  readonly weight: number;
  /** Health as last checked. */
  readonly status: 'UP' | 'DOWN';
  /** The smart-group-delegate that added it from the registry; absent for servers added by hand. */
  readonly 'smart-group-delegate'?: string;
}

/** A smart-node-delegate: what it publishes and how the registry holds it. */
export interface SmartNodeDelegateDetail {
  readonly name: string;
  readonly service: string;
  readonly zone: string;
  /** Absent when the address was given. */
  readonly nic?: string;
  readonly address: string;
  readonly port: number;
  readonly 'ip-type': 'v4' | 'v6';
  readonly weight: number;
  /** connecting, connected, reconnecting, down (local check failing: not published), closed. */
  readonly state: string;
  /** unchecked, up or down: the TCP check of address:port. */
  readonly local: string;
  /** The registry connection: connecting, connected, unavailable, closed. */
  readonly registry: string;
  readonly key: string;
  /** Revision of the last write of the key (0 before the first). */
  readonly revision: number;
}

/** A smart-group-delegate: which group it fills from which service, and how it follows. */
export interface SmartGroupDelegateDetail {
  readonly name: string;
  readonly service: string;
  readonly zone: string;
  readonly 'server-group': string;
  /** connecting, connected, reconnecting, frozen (registry unreachable: group kept), closed. */
  readonly state: string;
  readonly registry: string;
  /** Servers it put in the group. */
  readonly servers: number;
  readonly revision: number;
  readonly changes: number;
  readonly relists: number;
  readonly conflicts: number;
}

export interface SecurityGroupDetail {
  readonly name: string;
  readonly default: 'allow' | 'deny';
}

export interface SecurityGroupRuleDetail {
  readonly name: string;
  readonly default: 'allow' | 'deny';
  /** CIDR, e.g. `10.0.0.0/8`. */
  readonly network: string;
  readonly protocol: 'tcp' | 'udp';
  /** `min,max`, as `add` takes it. */
  readonly 'port-range': string;
}

export interface CertKeyDetail {
  readonly name: string;
  /** The certificate chain file(s), comma separated, absolute paths. */
  readonly cert: string;
  /** The private key file (a path, not the key). */
  readonly key: string;
}

/** A client and its backend connection; the backend is absent until it is connected. */
export interface SessionDetail {
  /** The client connection's id (`remote/local`). */
  readonly client: string;
  /** The backend connection's id (`local/remote`). */
  readonly backend?: string;
}

export interface ControllerDetail {
  readonly name: string;
  /** `host:port` it listens on. */
  readonly address: string;
}

/** Every kind of record `list-detail` gives, by the name REST and OpenAPI use. */
export interface Details {
  'tcp-lb': TcpLbDetail;
  'socks5-server': Socks5ServerDetail;
  'udp-lb': UdpLbDetail;
  'event-loop-group': NameDetail;
  'event-loop': NameDetail;
  upstream: NameDetail;
  'server-group': ServerGroupDetail;
  'upstream-server-group': UpstreamServerGroupDetail;
  server: ServerDetail;
  'socks5-user': NameDetail;
  'security-group': SecurityGroupDetail;
  'security-group-rule': SecurityGroupRuleDetail;
  'cert-key': CertKeyDetail;
  'smart-node-delegate': SmartNodeDelegateDetail;
  'smart-group-delegate': SmartGroupDelegateDetail;
  'server-sock': NameDetail;
  connection: NameDetail;
  session: SessionDetail;
  'resp-controller': ControllerDetail;
  'http-controller': ControllerDetail;
}

export type DetailKind = keyof Details;

/** Records of one kind, with the kind saying which. */
export type DetailList = {
  [K in DetailKind]: { readonly kind: K; readonly records: readonly Details[K][] };
}[DetailKind];

function listenerText(
  r: ListenerDetail,
  extra: { protocol?: string; nonBackend?: boolean },
): string {
  let text =
    `${r.name} -> acceptor ${r['acceptor-elg']} worker ${r['event-loop-group']} bind ${r.bind}` +
    ` address ${r.address} backends ${r.upstream} timeout ${r.timeout}` +
    ` fin-timeout ${r['fin-timeout']} retries ${r.retries} access-log ${r['access-log']}` +
    ` in-buffer-size ${r['in-buffer-size']} out-buffer-size ${r['out-buffer-size']}`;
  if (extra.protocol !== undefined) text += ` protocol ${extra.protocol}`;
  text += ` security-group ${r['security-group']}`;
  if (extra.nonBackend !== undefined)
    text += extra.nonBackend ? ' allow-non-backend' : ' deny-non-backend';
  if (r['cert-key'] !== undefined) text += ` cert-key ${r['cert-key']}`;
  return text;
}

function groupText(r: ServerGroupDetail): string {
  return (
    `${r.name} -> timeout ${r.timeout} period ${r.period} up ${r.up} down ${r.down}` +
    ` method ${r.method} check ${r.check} event-loop-group ${r['event-loop-group']}`
  );
}

const name = (r: NameDetail): string => r.name;
const controller = (r: ControllerDetail): string => `${r.name} -> ${r.address}`;

/** The text line of each kind, as RESP and StdIO print it (and always have). */
const TEXT: { readonly [K in DetailKind]: (record: Details[K]) => DetailText } = {
  'tcp-lb': (r) => listenerText(r, { protocol: r.protocol }),
  // The UDP limits before allow-udp: the flag stays last, as scripts read it.
  'socks5-server': (r) =>
    listenerText(r, { nonBackend: r['allow-non-backend'] }) +
    ` max-associations ${r['max-associations']} udp-timeout ${r['udp-timeout']}` +
    (r['allow-udp'] ? ' allow-udp' : ''),
  'udp-lb': (r) =>
    `${r.name} -> bind ${r.bind} address ${r.address} backends ${r.upstream} timeout ${r.timeout}` +
    ` max-flows ${r['max-flows']} security-group ${r['security-group']}` +
    ` flows ${r.flows} refused ${r.refused}`,
  'event-loop-group': name,
  'event-loop': name,
  upstream: name,
  'server-group': groupText,
  'upstream-server-group': (r) => {
    const { weight, ...group } = r;
    return isWholeGroup(group)
      ? `${groupText(group)} weight ${weight}`
      : `${r.name} -> weight ${weight}`;
  },
  server: (r) =>
    `${r.name} -> connect-to ${r.address} weight ${r.weight} currently ${r.status}` +
    (r['smart-group-delegate'] === undefined
      ? ''
      : ` from smart-group-delegate ${r['smart-group-delegate']}`),
  'socks5-user': name,
  'security-group': (r) => `${r.name} -> default ${r.default}`,
  'security-group-rule': (r) =>
    `${r.name} -> ${r.default} ${r.network} protocol ${r.protocol.toUpperCase()} port [${r['port-range']}]`,
  'cert-key': (r) => `${r.name} -> cert ${r.cert} key ${r.key}`,
  'smart-node-delegate': (r) =>
    `${r.name} -> service ${r.service} zone ${r.zone}` +
    (r.nic === undefined ? '' : ` nic ${r.nic}`) +
    ` address ${r.address} port ${r.port} ip-type ${r['ip-type']} weight ${r.weight}` +
    ` state ${r.state} local ${r.local} registry ${r.registry} revision ${r.revision}`,
  'smart-group-delegate': (r) =>
    `${r.name} -> service ${r.service} zone ${r.zone} server-group ${r['server-group']}` +
    ` state ${r.state} registry ${r.registry} servers ${r.servers} revision ${r.revision}` +
    ` changes ${r.changes} relists ${r.relists} conflicts ${r.conflicts}`,
  'server-sock': name,
  connection: name,
  // A tuple: RESP answers it as a nested array, StdIO joins it with ` -> `.
  session: (r) => (r.backend === undefined ? [r.client] : [r.client, r.backend]),
  'resp-controller': controller,
  'http-controller': controller,
};

function isWholeGroup(g: Partial<ServerGroupDetail> & NameDetail): g is ServerGroupDetail {
  return (
    g.timeout !== undefined &&
    g.period !== undefined &&
    g.up !== undefined &&
    g.down !== undefined &&
    g.method !== undefined &&
    g.check !== undefined &&
    g['event-loop-group'] !== undefined
  );
}

/** The text form of one record. */
export function detailText<K extends DetailKind>(kind: K, record: Details[K]): DetailText {
  const render: (r: Details[K]) => DetailText = TEXT[kind];
  return render(record);
}

/** The name REST's item route looks a record up by: a session by its client connection. */
export function detailKey(record: Details[DetailKind]): string {
  return 'name' in record ? record.name : record.client;
}

/**
 * A `list-detail` answer: the text items every controller has always shown,
 * rendered here from the records, and the records themselves for REST.
 */
export function detailList<K extends DetailKind>(
  kind: K,
  records: readonly Details[K][],
): { kind: 'list'; items: DetailText[]; details: DetailList } {
  return {
    kind: 'list',
    items: records.map((r) => detailText(kind, r)),
    details: { kind, records } as DetailList,
  };
}

/**
 * The same list with every string field of every record passed through `f`
 * (how the executor masks address secrets such as kcp's `key=` for network
 * clients), the text re-rendered from the result so both forms stay one.
 * `f` must keep what it does not mask: enum fields go through it too.
 */
export function mapDetailStrings(
  details: DetailList,
  f: (text: string) => string,
): ReturnType<typeof detailList> {
  const records = details.records.map(
    (r: Details[DetailKind]) =>
      Object.fromEntries(
        Object.entries(r).map(([k, v]) => [k, typeof v === 'string' ? f(v) : v]),
      ) as Details[DetailKind],
  );
  return detailList<DetailKind>(details.kind, records);
}
