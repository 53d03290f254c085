import { createWriteStream } from 'node:fs';
import { VproxyError } from '../../src/fd/errors.js';
import {
  createLogger,
  type LogFormat,
  type Logger,
  type LogThreshold,
  parseLogLevel,
} from '../../src/fd/logger.js';

/** The level when neither `--log-level` nor `VPROXY_LOG` says: failures and UP/DOWN, no per-session noise. */
export const DEFAULT_LOG_LEVEL: LogThreshold = 'info';

/** `--log-level` wins, then `VPROXY_LOG`, then the default; a bad value fails naming its source. */
export function logLevelFrom(flag: string | undefined, env: string | undefined): LogThreshold {
  if (flag !== undefined) return parseLogLevel(flag);
  if (env !== undefined && env !== '') {
    try {
      return parseLogLevel(env);
    } catch (err) {
      throw new VproxyError('ERR_OPTION_INVALID', `VPROXY_LOG: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  return DEFAULT_LOG_LEVEL;
}

export interface AccessLogSink {
  readonly logger: Logger;
  /** Flush and close the file (nothing to do for stderr). */
  close(): Promise<void>;
}

/**
 * `--access-log` alone or `-`: lines on stderr beside the log; a path: lines
 * appended to that file. A file that cannot be written is told once on `log`.
 */
export function accessLogSink(
  target: string | true,
  format: LogFormat,
  log: Logger,
): AccessLogSink {
  if (target === true || target === '-') {
    return { logger: createLogger({ threshold: 'info', format }), close: async () => {} };
  }
  const file = createWriteStream(target, { flags: 'a' });
  let failed = false;
  file.on('error', (err) => {
    if (!failed) log.error('access-log-failed', { path: target, error: err.message });
    failed = true;
  });
  return {
    logger: createLogger({
      threshold: 'info',
      format,
      write: (line) => {
        if (!failed) file.write(`${line}\n`);
      },
    }),
    close: () =>
      new Promise((resolve) => {
        if (failed) resolve();
        else file.end(resolve);
      }),
  };
}
