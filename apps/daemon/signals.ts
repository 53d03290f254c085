import type { Daemon } from './run-daemon.js';

export interface SignalOptions {
  readonly drainTimeoutMs: number;
  readonly save: boolean;
  readonly print: (line: string) => void;
  readonly exit: (code: number) => void;
}

/**
 * What the daemon does on signals:
 * - SIGHUP reloads the config file as a diff (unchanged listeners keep their
 *   connections) and keeps running: what operators expect of a daemon.
 * - SIGTERM (systemd, docker, kubernetes stop) drains: listeners stop
 *   accepting, open sessions get up to the drain timeout, then save and exit.
 * - SIGINT (Ctrl-C at a terminal) saves and stops at once: whoever presses
 *   it is watching and wants the prompt back.
 * A second SIGTERM or SIGINT while draining stops at once.
 */
export function handleSignals(daemon: Daemon, o: SignalOptions): () => void {
  let leaving = false;
  const saving = o.save ? 'save and ' : '';
  const stopNow = (signal: string) => {
    o.print(`vproxy: ${signal}: ${o.save ? 'saving and ' : ''}stopping`);
    void daemon.stop().then(() => o.exit(0));
  };
  const onHup = () => {
    if (leaving) return;
    // Logged by the daemon, step by step; a failure leaves the daemon running.
    daemon.reload().catch(() => {});
  };
  const onTerm = () => {
    if (leaving) return stopNow('SIGTERM again');
    leaving = true;
    o.print(
      `vproxy: SIGTERM: draining (no new connections; open sessions get up to ${o.drainTimeoutMs} ms), then ${saving}stop`,
    );
    void daemon.drain(o.drainTimeoutMs).then(() => o.exit(0));
  };
  const onInt = () => {
    leaving = true;
    stopNow('SIGINT');
  };
  process.on('SIGHUP', onHup);
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  return () => {
    process.off('SIGHUP', onHup);
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
  };
}
