import { isIP } from 'node:net';
import { formatHostPort } from '../fd/address.js';
import { MeshError } from './errors.js';
import { checkSegment } from './keys.js';

// The value stored under an instance key: versioned JSON, so that a newer
// daemon can add fields without breaking older readers (unknown fields are
// ignored) and a reader can refuse a format it does not know (another `v`).

export const RECORD_VERSION = 1;
export const DEFAULT_MESH_WEIGHT = 10;
export const MAX_MESH_WEIGHT = 1000;

export type JsonValue =
  | string
  | number
  | boolean
  | null
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };

/** One registered instance of a service: what a group delegate turns into a server. */
export interface ServiceInstance {
  /** Unique within service + zone; the last key segment. Default `address:port`. */
  readonly nodeId: string;
  /** An IP literal (v4 dotted, v6 without brackets). */
  readonly address: string;
  readonly port: number;
  /** 0..1000; 0 drains. */
  readonly weight: number;
  /** Carried, not interpreted (the reference's khala `meta`). */
  readonly meta: Readonly<Record<string, JsonValue>>;
}

/** The default node id: the instance's identity is its address and port, as in the reference. */
export function defaultNodeId(address: string, port: number): string {
  return formatHostPort(address, port);
}

/** Throws ERR_MESH_VALUE_INVALID unless `instance` can be written. */
export function checkInstance(instance: ServiceInstance): ServiceInstance {
  checkSegment('node id', instance.nodeId);
  if (isIP(instance.address) === 0) {
    throw new MeshError(
      'ERR_MESH_VALUE_INVALID',
      `invalid instance address ${JSON.stringify(instance.address)}: expected an IP literal`,
    );
  }
  if (!Number.isInteger(instance.port) || instance.port < 1 || instance.port > 65535) {
    throw new MeshError('ERR_MESH_VALUE_INVALID', `invalid instance port ${instance.port}`);
  }
  if (
    !Number.isInteger(instance.weight) ||
    instance.weight < 0 ||
    instance.weight > MAX_MESH_WEIGHT
  ) {
    throw new MeshError(
      'ERR_MESH_VALUE_INVALID',
      `invalid instance weight ${instance.weight}: expected an integer in 0..${MAX_MESH_WEIGHT}`,
    );
  }
  return instance;
}

export function encodeInstance(instance: ServiceInstance): string {
  const i = checkInstance(instance);
  return JSON.stringify({
    v: RECORD_VERSION,
    nodeId: i.nodeId,
    address: i.address,
    port: i.port,
    weight: i.weight,
    meta: i.meta,
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Read a stored value. The node id comes from the key (the value's copy is
 * informative): a value copied under another key must not impersonate it.
 * A missing weight means the default; a negative one 0 (as the reference).
 */
export function decodeInstance(text: string, nodeId: string): ServiceInstance {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new MeshError('ERR_MESH_VALUE_INVALID', 'registry value is not JSON', { cause });
  }
  if (!isRecord(raw))
    throw new MeshError('ERR_MESH_VALUE_INVALID', 'registry value: not an object');
  if (raw.v !== RECORD_VERSION) {
    throw new MeshError(
      'ERR_MESH_VALUE_INVALID',
      `registry value version ${JSON.stringify(raw.v)} unknown (this reader knows ${RECORD_VERSION})`,
    );
  }
  const weight = raw.weight === undefined ? DEFAULT_MESH_WEIGHT : raw.weight;
  const meta = raw.meta === undefined ? {} : raw.meta;
  if (typeof raw.address !== 'string' || typeof raw.port !== 'number') {
    throw new MeshError('ERR_MESH_VALUE_INVALID', 'registry value: address or port missing');
  }
  if (typeof weight !== 'number' || !isRecord(meta)) {
    throw new MeshError('ERR_MESH_VALUE_INVALID', 'registry value: bad weight or meta');
  }
  return checkInstance({
    nodeId,
    address: raw.address,
    port: raw.port,
    weight: Math.max(0, weight),
    meta: meta as Record<string, JsonValue>,
  });
}
