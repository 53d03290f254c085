// Every test file ends holding no more sockets, servers or child processes than
// it started with (the developers' guide: "tests end with no open handles").
// Registered for each file through vitest's setupFiles, so a new file cannot
// forget it; a file's own afterAll hooks run first (hooks run as a stack), so
// what they close is closed before this looks.
import { afterAll, beforeAll } from 'vitest';
import { expectNoLeakedSockets, snapshotSockets } from './handles.js';

/** How long closing handles may take to disappear; a file may raise it (slow kcp teardown). */
const WAIT_MS = 8000;

let baseline: string[] = [];
beforeAll(() => {
  baseline = snapshotSockets();
});
afterAll(async () => {
  await expectNoLeakedSockets(baseline, WAIT_MS);
});
