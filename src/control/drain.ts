import type { ResourceStore } from './store.js';

/** Sessions still open across every listener of the store. */
export function activeSessions(store: ResourceStore): number {
  let n = 0;
  for (const [, , e] of store.listeners()) n += e.lb.stats().active;
  return n;
}

export interface DrainResult {
  /** Sessions open when the listeners stopped accepting. */
  readonly atStart: number;
  /** Sessions still open when the grace period ended (closed by the caller's stop). */
  readonly left: number;
  readonly waitedMs: number;
}

/**
 * SIGTERM: stop accepting on every listener (the ports close, so a front load
 * balancer sees this instance go), then wait for open sessions to finish, up
 * to `timeoutMs`. Whatever is left is closed by the store's close afterwards.
 */
export async function drainListeners(
  store: ResourceStore,
  timeoutMs: number,
  /** Called once every port is closed, before the wait: "draining" is true from then on. */
  onStopped?: (sessions: number) => void,
  pollMs = 50,
): Promise<DrainResult> {
  const started = performance.now();
  await Promise.all([...store.listeners()].map(([, , e]) => e.lb.stopAccepting()));
  const atStart = activeSessions(store);
  onStopped?.(atStart);
  let left = atStart;
  while (left > 0 && performance.now() - started < timeoutMs) {
    await new Promise((r) => setTimeout(r, Math.min(pollMs, timeoutMs)));
    left = activeSessions(store);
  }
  return { atStart, left, waitedMs: Math.round(performance.now() - started) };
}
