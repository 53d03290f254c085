import { METHOD_NAMES } from '../../lb/selection-method.js';
import { PARAMS, type Param, type ResourceType } from '../command/keywords.js';
import type { DetailKind } from './records.js';

// The JSON schema of each record kind in records.ts, for OpenAPI's
// components. Field descriptions come from the command language's PARAMS
// table, so `man`, the request bodies and these answers say the same thing.
// The REST JSON test validates every answer of a running daemon against them.

/** The subset of JSON Schema (OpenAPI 3.0 flavour) these documents use. */
export interface JsonSchema {
  readonly type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  readonly description?: string;
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean;
  readonly items?: JsonSchema;
  readonly enum?: readonly string[];
  readonly anyOf?: readonly JsonSchema[];
  readonly $ref?: string;
  readonly readOnly?: boolean;
  readonly writeOnly?: boolean;
  readonly format?: string;
}

const str = (description?: string): JsonSchema => ({
  type: 'string',
  ...(description === undefined ? {} : { description }),
});
const int = (description?: string): JsonSchema => ({
  type: 'integer',
  ...(description === undefined ? {} : { description }),
});
const oneOf = (values: readonly string[], description?: string): JsonSchema => ({
  type: 'string',
  enum: values,
  ...(description === undefined ? {} : { description }),
});
/** A field named after a command parameter, described by it. */
const param = (p: Param, make: (d?: string) => JsonSchema): JsonSchema =>
  make(PARAMS.get(p)?.description);
/** A field no request sets: the daemon reports it. */
const readOnly = (s: JsonSchema): JsonSchema => ({ ...s, readOnly: true });

function object(
  properties: Record<string, JsonSchema>,
  optional: readonly string[] = [],
): JsonSchema {
  return {
    type: 'object',
    // Closed: a field that is not documented (a secret, say) fails validation.
    additionalProperties: false,
    required: Object.keys(properties).filter((k) => !optional.includes(k)),
    properties,
  };
}

const NAME = { name: str('the resource name') };

const LISTENER: Record<string, JsonSchema> = {
  ...NAME,
  'acceptor-elg': param('acceptor-elg', str),
  'event-loop-group': param('event-loop-group', str),
  bind: readOnly(str('the listening socket (server-sock name): the bound host:port')),
  address: param('address', str),
  upstream: param('upstream', str),
  timeout: param('timeout', int),
  'fin-timeout': param('fin-timeout', int),
  retries: param('retries', int),
  'access-log': param('access-log', (d) => oneOf(['on', 'off'], d)),
  'in-buffer-size': param('in-buffer-size', int),
  'out-buffer-size': param('out-buffer-size', int),
  'security-group': param('security-group', str),
  'cert-key': param('cert-key', str),
};

const GROUP: Record<string, JsonSchema> = {
  ...NAME,
  timeout: param('timeout', int),
  period: param('period', int),
  up: param('up', int),
  down: param('down', int),
  method: param('method', (d) => oneOf(METHOD_NAMES, d)),
  check: param('check', str),
  'event-loop-group': param('event-loop-group', str),
};

const REGISTRY = oneOf(
  ['connecting', 'connected', 'unavailable', 'closed'],
  'the service registry connection',
);

const CONTROLLER = object({ ...NAME, address: str('host:port it listens on') });

export const DETAIL_SCHEMAS: { readonly [K in DetailKind]: JsonSchema } = {
  'tcp-lb': object({ ...LISTENER, protocol: param('protocol', (d) => oneOf(['tcp'], d)) }, [
    'cert-key',
  ]),
  'socks5-server': object(
    {
      ...LISTENER,
      'allow-non-backend': {
        type: 'boolean',
        description: 'true: clients may reach any target, not only backends of the upstream',
      },
      'allow-udp': {
        type: 'boolean',
        description: 'true: UDP ASSOCIATE is served, with the same target rules as CONNECT',
      },
      'max-associations': param('max-associations', int),
      'udp-timeout': param('udp-timeout', int),
      'udp-associations': readOnly(int('UDP associations alive now (every worker process)')),
      'udp-associations-refused': readOnly(
        int('UDP ASSOCIATE requests refused because the associations were at their limit'),
      ),
    },
    ['cert-key', 'udp-associations', 'udp-associations-refused'],
  ),
  'udp-lb': object({
    ...NAME,
    bind: readOnly(str('the bound udp host:port')),
    address: param('address', str),
    upstream: param('upstream', str),
    timeout: param('timeout', int),
    'max-flows': param('max-flows', int),
    'security-group': param('security-group', str),
    flows: readOnly(int('flows alive now')),
    refused: readOnly(int('new flows refused: table full, security group, no backend')),
  }),
  'event-loop-group': object(NAME),
  'event-loop': object(NAME),
  upstream: object(NAME),
  'server-group': object(GROUP),
  // Only name and weight are sure: see UpstreamServerGroupDetail.
  'upstream-server-group': object(
    { ...GROUP, weight: param('weight', int) },
    Object.keys(GROUP).filter((k) => k !== 'name'),
  ),
  server: object(
    {
      ...NAME,
      address: param('address', str),
      weight: param('weight', int),
      status: readOnly(oneOf(['UP', 'DOWN'], 'health as last checked')),
      'smart-group-delegate': readOnly(
        str('the smart-group-delegate that added it from the registry; absent if added by hand'),
      ),
    },
    ['smart-group-delegate'],
  ),
  // The password is write-only: it is in the POST / PUT body, never here.
  'socks5-user': object(NAME),
  'security-group': object({
    ...NAME,
    default: param('default', (d) => oneOf(['allow', 'deny'], d)),
  }),
  'security-group-rule': object({
    ...NAME,
    default: param('default', (d) => oneOf(['allow', 'deny'], d)),
    network: param('network', str),
    protocol: param('protocol', (d) => oneOf(['tcp', 'udp'], d)),
    'port-range': param('port-range', str),
  }),
  'cert-key': object({
    ...NAME,
    cert: param('cert', str),
    key: str('the private key file (its path; the key itself is never answered)'),
  }),
  'smart-node-delegate': object(
    {
      ...NAME,
      service: param('service', str),
      zone: param('zone', str),
      nic: param('nic', str),
      address: str('the published IP address (resolved from the nic when one was given)'),
      port: param('port', int),
      'ip-type': param('ip-type', (d) => oneOf(['v4', 'v6'], d)),
      weight: param('weight', int),
      state: readOnly(
        oneOf(['connecting', 'connected', 'reconnecting', 'down', 'closed'], 'registration state'),
      ),
      local: readOnly(oneOf(['unchecked', 'up', 'down'], 'TCP check of address:port')),
      registry: readOnly(REGISTRY),
      key: readOnly(str('the registry key')),
      revision: readOnly(int('revision of the last write of the key (0 before the first)')),
    },
    ['nic'],
  ),
  'smart-group-delegate': object({
    ...NAME,
    service: param('service', str),
    zone: param('zone', str),
    'server-group': param('server-group', str),
    state: readOnly(
      oneOf(
        ['connecting', 'connected', 'reconnecting', 'frozen', 'closed'],
        'frozen: registry unreachable, group kept as it was',
      ),
    ),
    registry: readOnly(REGISTRY),
    servers: readOnly(int('servers it put in the group')),
    revision: readOnly(int('registry revision it has seen')),
    changes: readOnly(int('adds, removes and re-weights applied to the group')),
    relists: readOnly(int('times it listed the service again (compaction, outage end)')),
    conflicts: readOnly(int('instances skipped: the group had a server of that name')),
  }),
  'server-sock': object({ name: str('the listening socket: its bound host:port') }),
  connection: object({ name: str('the connection id (the name force-remove takes)') }),
  session: object(
    {
      client: str('the client connection id (remote/local)'),
      backend: str('the backend connection id (local/remote); absent until connected'),
    },
    ['backend'],
  ),
  'resp-controller': CONTROLLER,
  'http-controller': CONTROLLER,
};

/** The OpenAPI component name of a kind: `tcp-lb` → `TcpLb`. */
export function schemaName(kind: DetailKind): string {
  return kind.replace(/(^|-)([a-z0-9])/g, (_m, _dash: string, c: string) => c.toUpperCase());
}

/**
 * What REST's GET on a resource type answers: the record kind list-detail
 * gives there, or 'number' for the counters (bytes-in, …).
 */
export function detailKindOf(
  type: ResourceType,
  where: ResourceType | 'top',
): DetailKind | 'number' {
  switch (type) {
    case 'bytes-in':
    case 'bytes-out':
    case 'accepted-conn-count':
      return 'number';
    case 'server-group':
      return where === 'upstream' ? 'upstream-server-group' : 'server-group';
    default:
      return type;
  }
}
