import { MeshError } from './errors.js';

// The key layout (see README.md): one key per registered instance,
//   <root>/services/<service>/<zone>/<node-id>
// so that "every instance of a service in a zone" is one prefix range, which
// is what a group delegate lists and watches.

export const DEFAULT_ROOT = '/vproxy';

/** A key segment: no '/', no whitespace, nothing a shell or a URL would mangle. */
const SEGMENT = /^[A-Za-z0-9._:@[\]-]{1,128}$/;

export function checkSegment(kind: 'service' | 'zone' | 'node id', value: string): string {
  if (typeof value !== 'string' || !SEGMENT.test(value) || value === '.' || value === '..') {
    throw new MeshError(
      'ERR_MESH_NAME_INVALID',
      `invalid ${kind} ${JSON.stringify(value)}: 1-128 of A-Z a-z 0-9 . _ : @ [ ] -`,
    );
  }
  return value;
}

/** The root must look like an absolute path without a trailing slash. */
export function checkRoot(root: string): string {
  if (!/^(\/[A-Za-z0-9._-]+)+$/.test(root)) {
    throw new MeshError(
      'ERR_MESH_NAME_INVALID',
      `invalid registry root ${JSON.stringify(root)}: expected /segment[/segment…]`,
    );
  }
  return root;
}

/** The prefix holding every instance of service + zone (with its trailing slash). */
export function servicePrefix(root: string, service: string, zone: string): string {
  return `${root}/services/${checkSegment('service', service)}/${checkSegment('zone', zone)}/`;
}

export function instanceKey(root: string, service: string, zone: string, nodeId: string): string {
  return `${servicePrefix(root, service, zone)}${checkSegment('node id', nodeId)}`;
}

export interface KeyParts {
  readonly service: string;
  readonly zone: string;
  readonly nodeId: string;
}

/** The parts of an instance key under `root`, or undefined for any other key. */
export function parseInstanceKey(root: string, key: string): KeyParts | undefined {
  const head = `${root}/services/`;
  if (!key.startsWith(head)) return undefined;
  const parts = key.slice(head.length).split('/');
  if (parts.length !== 3) return undefined;
  const [service, zone, nodeId] = parts as [string, string, string];
  if (!SEGMENT.test(service) || !SEGMENT.test(zone) || !SEGMENT.test(nodeId)) return undefined;
  return { service, zone, nodeId };
}
