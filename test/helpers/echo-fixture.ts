import { afterAll, beforeAll } from 'vitest';
import { expectNoLeakedSockets, snapshotSockets } from './handles.js';
import { startEchoServer, stopServer } from './net.js';

/**
 * A suite-wide TCP echo backend: started before the suite, stopped after it,
 * then the suite must have left no socket behind (waiting up to `leakWaitMs`).
 */
export function useEchoBackend(leakWaitMs = 2000): { readonly port: number } {
  let baseline: string[] = [];
  let echo: Awaited<ReturnType<typeof startEchoServer>> | undefined;
  beforeAll(async () => {
    baseline = snapshotSockets();
    echo = await startEchoServer();
  });
  afterAll(async () => {
    if (echo) await stopServer(echo.server, echo.sockets);
    await expectNoLeakedSockets(baseline, leakWaitMs);
  });
  return {
    get port(): number {
      if (!echo) throw new Error('echo backend used outside the suite');
      return echo.port;
    },
  };
}
