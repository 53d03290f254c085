import type { Server } from '../lb/server.js';

// Which servers a group delegate put in a group, so a status page, list-detail
// or metrics can say "from the registry" without the lb layer knowing the mesh
// exists. Weak: a removed server is forgotten with it.

export interface RegistrySource {
  /** The group delegate's name. */
  readonly delegate: string;
  readonly service: string;
  readonly zone: string;
  readonly nodeId: string;
  /** The registry key the server mirrors. */
  readonly key: string;
}

const sources = new WeakMap<Server, RegistrySource>();

export function markRegistrySourced(server: Server, source: RegistrySource): void {
  sources.set(server, source);
}

export function unmarkRegistrySourced(server: Server): void {
  sources.delete(server);
}

/** Where `server` came from, if a group delegate added it. */
export function registrySource(server: Server): RegistrySource | undefined {
  return sources.get(server);
}

export function isRegistrySourced(server: Server): boolean {
  return sources.has(server);
}
