/**
 * Poll `cond` every `everyMs` until true; the time it took in ms (rounded); throws after
 * `timeoutMs`. For a state that follows an event the test cannot await directly (a
 * session's close after its client socket's, a pool refilling): a fixed sleep would be
 * too short on a loaded machine and too long everywhere else.
 */
export async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
  everyMs = 10,
): Promise<number> {
  const start = performance.now();
  while (!(await cond())) {
    if (performance.now() - start > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return Math.round(performance.now() - start);
}
