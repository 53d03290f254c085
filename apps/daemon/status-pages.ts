import type { PageHandler } from '../../src/control/controllers/http-controller.js';
import type { ResourceStore } from '../../src/control/store.js';

/** The status page and /metrics of the HTTP controller (filled in by the observability work). */
export function statusPages(_store: ResourceStore): PageHandler {
  return () => false;
}
