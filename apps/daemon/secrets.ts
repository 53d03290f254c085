import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Secret } from '../../src/control/secret.js';
import { VproxyError } from '../../src/fd/errors.js';

/** True for 127.0.0.0/8 (also IPv4-mapped), ::1 and localhost. */
export function isLoopback(host: string): boolean {
  const v4 = host.startsWith('::ffff:') ? host.slice(7) : host;
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(v4);
}

/**
 * The secret of a controller: the one given, else the one stored in the config
 * dir by an earlier start, else a fresh random one (stored, mode 0600). A
 * controller on a non-loopback address must be given one explicitly, so a
 * typo can never expose a controller with a secret nobody chose.
 */
export function controllerSecret(
  configDir: string,
  kind: 'resp-password' | 'http-token',
  given: string | undefined,
  host: string,
): { secret: string; generated: boolean; file: string } {
  const file = join(configDir, kind);
  if (given !== undefined) return { secret: given, generated: false, file };
  if (!isLoopback(host)) {
    throw new VproxyError(
      'ERR_OPTION_INVALID',
      `refusing to start a controller on non-loopback ${host} without an explicit ${kind}`,
    );
  }
  if (existsSync(file))
    return { secret: readFileSync(file, 'utf8').trim(), generated: false, file };
  const secret = Secret.generate();
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return { secret, generated: true, file };
}
