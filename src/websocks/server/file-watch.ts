import { type Stats, type StatWatcher, unwatchFile, watchFile } from 'node:fs';

/**
 * Calls `onChange` (once per burst) when any of `paths` changes: modification
 * time, size or inode — so an editor's in-place save, certbot's rename of a new
 * file into place and a symlink flip are all seen. Polling rather than
 * fs.watch: it survives the file being replaced, and costs one stat per file
 * per interval. Returns a stop function; the watchers never keep the process alive.
 */
export function watchFiles(
  paths: readonly string[],
  intervalMs: number,
  onChange: () => void,
): () => void {
  let timer: NodeJS.Timeout | null = null;
  const listener = (cur: Stats, prev: Stats) => {
    if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size && cur.ino === prev.ino) return;
    // A writer may touch key and certificate one after the other: settle first.
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(
      () => {
        timer = null;
        onChange();
      },
      Math.min(intervalMs, 200),
    );
    timer.unref();
  };
  const watchers: StatWatcher[] = paths.map((p) =>
    watchFile(p, { interval: intervalMs, persistent: false }, listener),
  );
  return () => {
    if (timer !== null) clearTimeout(timer);
    for (const p of paths) unwatchFile(p, listener);
    void watchers;
  };
}
