import { VproxyError } from '../fd/errors.js';
import { type EventLoop, LocalEventLoop } from './event-loop.js';
import { checkName } from './names.js';

/** A resource that spans a whole group (a TcpLB's listeners, a ServerGroup's health checks). */
export interface GroupResource {
  readonly id: string;
  /** A loop joined the group (a TcpLB listens on it too; a ServerGroup spreads its checks). */
  onEventLoopAdd(loop: EventLoop): void;
  /** The group closed: every loop is gone. */
  onClose(): void;
}

export interface EventLoopGroupOptions {
  /** Makes the loop behind `add(name)`: a worker process in the daemon (src/workers). */
  readonly createLoop?: (name: string) => EventLoop;
}

/** A named, ordered set of event loops that resources are spread over. */
export class EventLoopGroup {
  readonly name: string;
  readonly #createLoop: (name: string) => EventLoop;
  readonly #loops: EventLoop[] = [];
  readonly #resources = new Map<string, GroupResource>();
  #cursor = 0;
  #closed = false;

  constructor(name: string, options: EventLoopGroupOptions = {}) {
    this.name = checkName('event loop group', name);
    this.#createLoop = options.createLoop ?? ((n) => new LocalEventLoop(n));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Start a loop named `name`, then tell every group resource about it. */
  add(name: string): EventLoop {
    this.#checkNew(name);
    return this.adopt(this.#createLoop(checkName('event loop', name)));
  }

  /**
   * Take a loop made elsewhere (a daemon's `--workers` loops in its default
   * group); the group owns it from now on and closes it with itself.
   */
  adopt(loop: EventLoop): EventLoop {
    this.#checkNew(loop.name);
    this.#loops.push(loop);
    for (const r of [...this.#resources.values()]) r.onEventLoopAdd(loop);
    return loop;
  }

  #checkNew(name: string): void {
    this.#checkOpen();
    if (this.get(name) !== undefined) {
      throw new VproxyError(
        'ERR_ALREADY_EXISTS',
        `event loop ${name} already exists in group ${this.name}`,
      );
    }
  }

  /** Take the loop out of the group, then close it (its resources move to other loops). */
  async remove(name: string): Promise<void> {
    const index = this.#loops.findIndex((l) => l.name === name);
    if (index < 0) {
      throw new VproxyError('ERR_NOT_FOUND', `no event loop ${name} in group ${this.name}`);
    }
    const [loop] = this.#loops.splice(index, 1);
    await loop?.close();
  }

  get(name: string): EventLoop | undefined {
    return this.#loops.find((l) => l.name === name);
  }

  list(): EventLoop[] {
    return [...this.#loops];
  }

  get size(): number {
    return this.#loops.length;
  }

  /**
   * The loop for new work: `hint` itself when it is an open loop of this group
   * (keeps a connection's two halves on one loop), else the next open loop
   * round robin; null when the group has none (or is closed).
   */
  next(hint?: EventLoop | string): EventLoop | null {
    if (this.#closed) return null;
    if (hint !== undefined) {
      const name = typeof hint === 'string' ? hint : hint.name;
      const found = this.get(name);
      if (found !== undefined && !found.closed && (typeof hint === 'string' || found === hint)) {
        return found;
      }
    }
    const n = this.#loops.length;
    for (let tries = 0; tries < n; tries++) {
      // The cursor is reduced modulo the current size on every use, so removing
      // loops can never leave it pointing past the end.
      const index = this.#cursor % n;
      this.#cursor = index + 1;
      const loop = this.#loops[index];
      if (loop !== undefined && !loop.closed) return loop;
    }
    return null;
  }

  /** Register a group resource; it hears about loops added from now on. */
  attach(resource: GroupResource): void {
    this.#checkOpen();
    if (this.#resources.has(resource.id)) {
      throw new VproxyError(
        'ERR_ALREADY_EXISTS',
        `event loop group ${this.name} already holds resource ${resource.id}`,
      );
    }
    this.#resources.set(resource.id, resource);
  }

  detach(resource: GroupResource | string): boolean {
    const id = typeof resource === 'string' ? resource : resource.id;
    const held = this.#resources.get(id);
    if (held === undefined || (typeof resource !== 'string' && held !== resource)) return false;
    return this.#resources.delete(id);
  }

  resources(): GroupResource[] {
    return [...this.#resources.values()];
  }

  /** Close every loop, then tell every group resource. */
  async close(): Promise<void> {
    if (this.#closed) return;
    // Closed first, so resources evicted from a closing loop find no loop to move to.
    this.#closed = true;
    const loops = this.#loops.splice(0);
    const results = await Promise.allSettled(loops.map((l) => l.close()));
    const resources = [...this.#resources.values()];
    this.#resources.clear();
    const errors: unknown[] = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    for (const r of resources) {
      try {
        r.onClose();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) {
      throw new AggregateError(errors, `event loop group ${this.name}: close failed`);
    }
  }

  #checkOpen(): void {
    if (this.#closed) {
      throw new VproxyError('ERR_CLOSED', `event loop group ${this.name} is closed`);
    }
  }
}
