import type { Server } from '../lb/server.js';
import { ServerGroup } from '../lb/server-group.js';
import type { Upstream } from '../lb/upstream.js';

/**
 * The server groups of a listener on workers, as main sees its upstream: their
 * UP/DOWN transitions are followed (so a worker hears of one at once, not at
 * the next poll), and every group the upstream has held is remembered by name
 * (the latest of a name): a worker's sessions may outlive their group's place
 * in the upstream, and their counters still go to its servers.
 */
export class UpstreamGroups {
  readonly #upstream: Upstream;
  readonly #onChange: () => void;
  /** Server groups whose UP/DOWN transitions are being followed. */
  readonly #watched = new Set<ServerGroup>();
  readonly #known = new Map<string, ServerGroup>();
  #closed = false;

  /** `onChange` runs on every UP or DOWN of a followed group. */
  constructor(upstream: Upstream, onChange: () => void) {
    this.#upstream = upstream;
    this.#onChange = onChange;
  }

  /** Follow the UP/DOWN events of the upstream's server groups (as its members are now). */
  watch(): void {
    const groups = new Set<ServerGroup>();
    for (const m of this.#upstream.members()) {
      if (!(m.group instanceof ServerGroup)) continue;
      groups.add(m.group);
      this.#known.set(m.group.name, m.group);
    }
    for (const g of this.#watched) {
      if (groups.has(g) && !this.#closed) continue;
      g.off('up', this.#onChange).off('down', this.#onChange);
      this.#watched.delete(g);
    }
    if (this.#closed) return;
    for (const g of groups) {
      if (this.#watched.has(g)) continue;
      g.on('up', this.#onChange).on('down', this.#onChange);
      this.#watched.add(g);
    }
  }

  /** Stop following; the groups stay known, for the workers' last reports (their stop replies). */
  close(): void {
    this.#closed = true;
    this.watch();
  }

  /** Main's server for a worker's copy of it (a ServerLookup), if it is still the same address. */
  server(group: string, name: string, address: string): Server | undefined {
    const server = this.#known.get(group)?.get(name);
    return server?.addressText === address ? server : undefined;
  }

  /** The wlc server groups of the upstream (the only method that reads `elsewhere`). */
  *wlc(): Generator<ServerGroup> {
    for (const m of this.#upstream.members()) {
      if (m.group instanceof ServerGroup && m.group.method === 'wlc') yield m.group;
    }
  }
}
