import { afterAll, beforeAll } from 'vitest';

/** The socket-like handles (and child processes) this process holds now, by kind. */
function socketHandles(): string[] {
  return process
    .getActiveResourcesInfo()
    .filter(
      (r) => /TCP|UDP|Pipe|TLS|Server|Process/.test(r) && r !== 'PipeWrap' && r !== 'TTYWrap',
    );
}

/**
 * Wait (up to `ms`) until the process holds no more socket handles than it did
 * at `baseline`; throws naming the leftovers otherwise. Call at the end of a suite.
 */
export async function expectNoLeakedSockets(baseline: readonly string[], ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const now = socketHandles();
    if (now.length <= baseline.length) return;
    if (Date.now() > deadline) {
      throw new Error(
        `leaked handles: ${now.join(', ')} (baseline: ${baseline.join(', ') || 'none'})`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function snapshotSockets(): string[] {
  return socketHandles();
}

/**
 * The suite's socket check in one call: a snapshot before its first test, and
 * `expectNoLeakedSockets` (waiting up to `ms`) after its last.
 */
export function checkNoLeakedSocketsAfterAll(ms = 2000): void {
  let baseline: string[] = [];
  beforeAll(() => {
    baseline = snapshotSockets();
  });
  afterAll(async () => {
    await expectNoLeakedSockets(baseline, ms);
  });
}
