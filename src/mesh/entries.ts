import { errorFields, type Logger } from '../fd/logger.js';
import { parseInstanceKey } from './keys.js';
import { decodeInstance } from './record.js';
import type { ServiceEntry, WatchEvent } from './registry.js';

// What every registry backend does with a stored key/value: keys outside the
// layout are not ours and are ignored; a value that does not decode is skipped
// with a warning, so one bad writer cannot take a whole service view down.

/** The entry a stored key/value stands for, or undefined (not an instance key, or a bad value). */
export function decodeEntry(
  root: string,
  key: string,
  value: string,
  modRevision: number,
  log: Logger,
): ServiceEntry | undefined {
  const parts = parseInstanceKey(root, key);
  if (parts === undefined) return undefined;
  try {
    return { ...decodeInstance(value, parts.nodeId), ...parts, key, modRevision };
  } catch (err) {
    log.warn('mesh-value-skipped', { key, ...errorFields(err) });
    return undefined;
  }
}

/** The watch event a stored change stands for, or undefined when it is not about an instance. */
export function decodeChange(
  root: string,
  change: { readonly type: 'put' | 'delete'; readonly key: string; readonly value: string },
  revision: number,
  log: Logger,
): WatchEvent | undefined {
  if (change.type === 'delete') {
    const parts = parseInstanceKey(root, change.key);
    return parts && { type: 'delete', revision, key: change.key, nodeId: parts.nodeId };
  }
  const entry = decodeEntry(root, change.key, change.value, revision, log);
  return entry && { type: 'put', revision, entry };
}
