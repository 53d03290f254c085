import { VproxyError } from '../fd/errors.js';
import { type Clock, systemClock } from './clock.js';
import { checkName } from './names.js';

/** Something that runs on a loop and must be told when the loop goes away (e.g. a health check). */
export interface LoopResource {
  /** Unique on its loop; used for listing and detaching. */
  readonly id: string;
  /** The loop closed under the resource: stop, or move to another loop. Called once. */
  onClose(loop: EventLoop): void;
}

/**
 * A named place where work runs. In this build every loop is the process's own
 * event loop (`LocalEventLoop`); a loop backed by a worker process will
 * implement the same interface, which is why resources only ever see this
 * interface and the loop's clock, never the process's timers directly.
 */
export interface EventLoop {
  readonly name: string;
  /** Timers of this loop. */
  readonly clock: Clock;
  readonly closed: boolean;
  /** Throws ERR_ALREADY_EXISTS for a second resource with the same id, ERR_CLOSED on a closed loop. */
  attach(resource: LoopResource): void;
  /** Forget a resource without telling it; false when it was not attached. */
  detach(resource: LoopResource | string): boolean;
  resources(): LoopResource[];
  /** Close the loop; each attached resource gets `onClose` (resources may move elsewhere). */
  close(): Promise<void>;
}

/** A loop that is this process's event loop under a name. */
export class LocalEventLoop implements EventLoop {
  readonly name: string;
  readonly clock: Clock;
  readonly #resources = new Map<string, LoopResource>();
  #closed = false;

  constructor(name: string, clock: Clock = systemClock) {
    this.name = checkName('event loop', name);
    this.clock = clock;
  }

  get closed(): boolean {
    return this.#closed;
  }

  attach(resource: LoopResource): void {
    if (this.#closed) {
      throw new VproxyError('ERR_CLOSED', `event loop ${this.name} is closed`);
    }
    if (this.#resources.has(resource.id)) {
      throw new VproxyError(
        'ERR_ALREADY_EXISTS',
        `event loop ${this.name} already holds resource ${resource.id}`,
      );
    }
    this.#resources.set(resource.id, resource);
  }

  detach(resource: LoopResource | string): boolean {
    const id = typeof resource === 'string' ? resource : resource.id;
    const held = this.#resources.get(id);
    if (held === undefined || (typeof resource !== 'string' && held !== resource)) return false;
    return this.#resources.delete(id);
  }

  resources(): LoopResource[] {
    return [...this.#resources.values()];
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const resources = [...this.#resources.values()];
    this.#resources.clear();
    // Each resource is told even if an earlier one throws: a bug in one must
    // not leave the others running on a dead loop.
    const errors: unknown[] = [];
    for (const r of resources) {
      try {
        r.onClose(this);
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) {
      throw new AggregateError(errors, `event loop ${this.name}: resources failed to close`);
    }
  }
}
