import type { PageHandler } from '../../src/control/controllers/http-controller.js';
import { StatusPages } from '../../src/control/observability/status-pages.js';
import type { ResourceStore } from '../../src/control/store.js';

/**
 * The status page (`/`, `/status`), its JSON model (`/api/v1/status`) and
 * Prometheus metrics (`/metrics`) of an HTTP controller. The throughput
 * sampler behind the page runs only while someone reads it (its timer is
 * unref()'d and idles out), so the daemon has nothing to close.
 */
export function statusPages(store: ResourceStore): PageHandler {
  return new StatusPages(store).handler;
}
