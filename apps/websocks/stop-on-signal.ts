/**
 * SIGINT / SIGTERM stop a websocks app, including one still starting: installed before
 * anything listens, so a signal right after the listening lines is not lost. `arm(stop)`
 * runs `stop` at once when a signal already came, else on the next one.
 */
export function stopOnSignal(): { arm(stop: () => void): void } {
  let stop: (() => void) | null = null;
  let stopping = false;
  const onSignal = () => {
    stopping = true;
    stop?.();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    arm(fn) {
      stop = fn;
      if (stopping) fn();
    },
  };
}
