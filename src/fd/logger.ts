import diagnosticsChannel from 'node:diagnostics_channel';
import { VproxyError } from './errors.js';

// One small logger, passed in (never a global): every failure a user could
// otherwise only see as a closed connection is logged once with its cause.
// Embedders get the same events, whatever the level, on a diagnostics channel.

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogThreshold = LogLevel | 'off';
export type LogFormat = 'text' | 'json';
export type LogValue = string | number | boolean | null | undefined;
export type LogFields = Readonly<Record<string, LogValue>>;

/** What `vproxy:log` subscribers receive, one object per event. */
export interface LogRecord {
  readonly time: Date;
  readonly level: LogLevel;
  /** A stable kebab-case name (`backend-connect-failed`), for grep and for code. */
  readonly event: string;
  readonly fields: LogFields;
}

export interface Logger {
  readonly threshold: LogThreshold;
  /** True when an event of this level goes anywhere: guard costly field building with it. */
  enabled(level: LogLevel): boolean;
  error(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  debug(event: string, fields?: LogFields): void;
  /** A logger that adds these fields to every event (e.g. `{ lb: 'web' }`). */
  child(bindings: LogFields): Logger;
}

export const LOG_CHANNEL_NAME = 'vproxy:log';
const channel = diagnosticsChannel.channel(LOG_CHANNEL_NAME);

const RANK: Readonly<Record<LogThreshold, number>> = {
  off: 0,
  error: 1,
  warn: 2,
  info: 3,
  debug: 4,
};
export const LOG_LEVELS: readonly LogThreshold[] = ['off', 'error', 'warn', 'info', 'debug'];

export function parseLogLevel(text: string): LogThreshold {
  const level = text.trim().toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(level)) return level as LogThreshold;
  throw new VproxyError(
    'ERR_OPTION_INVALID',
    `invalid log level ${JSON.stringify(text)}: one of ${LOG_LEVELS.join(', ')}`,
  );
}

export function parseLogFormat(text: string): LogFormat {
  if (text === 'text' || text === 'json') return text;
  throw new VproxyError(
    'ERR_OPTION_INVALID',
    `invalid log format ${JSON.stringify(text)}: text or json`,
  );
}

/**
 * Secrets ride in addresses (`kcp://h:1?key=…`) and command lines (`password p`):
 * blank their values before anything reaches a terminal, a file or journald.
 */
export function redactSecrets(text: string): string {
  return text
    .replace(/([?&](?:[a-z]+\.)?(?:key|password|token|psk|secret)=)[^&\s]*/gi, '$1***')
    .replace(/(\b(?:password|pass|token)\s+)\S+/gi, '$1***');
}

function textValue(value: LogValue): string {
  const s = redactSecrets(String(value));
  return /^[^\s"=]+$/.test(s) ? s : JSON.stringify(s);
}

export function formatText(record: LogRecord): string {
  let line = `${record.time.toISOString()} ${record.level.toUpperCase().padEnd(5)} ${record.event}`;
  for (const [k, v] of Object.entries(record.fields)) {
    if (v !== undefined) line += ` ${k}=${textValue(v)}`;
  }
  return line;
}

export function formatJson(record: LogRecord): string {
  const out: Record<string, LogValue> = {
    time: record.time.toISOString(),
    level: record.level,
    event: record.event,
  };
  for (const [k, v] of Object.entries(record.fields)) {
    if (v !== undefined && !(k in out)) out[k] = typeof v === 'string' ? redactSecrets(v) : v;
  }
  return JSON.stringify(out);
}

export interface LoggerOptions {
  readonly threshold: LogThreshold;
  readonly format?: LogFormat;
  /** Where a formatted line goes (default: stderr, so stdout stays for program output). */
  readonly write?: (line: string) => void;
  readonly clock?: () => Date;
}

class LineLogger implements Logger {
  readonly threshold: LogThreshold;
  readonly #rank: number;
  readonly #format: (r: LogRecord) => string;
  readonly #write: (line: string) => void;
  readonly #clock: () => Date;
  readonly #bindings: LogFields;
  readonly #options: LoggerOptions;

  constructor(options: LoggerOptions, bindings: LogFields) {
    this.threshold = options.threshold;
    this.#rank = RANK[options.threshold];
    this.#format = options.format === 'json' ? formatJson : formatText;
    this.#write = options.write ?? ((line) => process.stderr.write(`${line}\n`));
    this.#clock = options.clock ?? (() => new Date());
    this.#bindings = bindings;
    this.#options = options;
  }

  enabled(level: LogLevel): boolean {
    return RANK[level] <= this.#rank || channel.hasSubscribers;
  }

  error(event: string, fields?: LogFields): void {
    this.#log('error', event, fields);
  }
  warn(event: string, fields?: LogFields): void {
    this.#log('warn', event, fields);
  }
  info(event: string, fields?: LogFields): void {
    this.#log('info', event, fields);
  }
  debug(event: string, fields?: LogFields): void {
    this.#log('debug', event, fields);
  }

  child(bindings: LogFields): Logger {
    return new LineLogger(this.#options, { ...this.#bindings, ...bindings });
  }

  #log(level: LogLevel, event: string, fields: LogFields | undefined): void {
    const shown = RANK[level] <= this.#rank;
    if (!shown && !channel.hasSubscribers) return;
    const record: LogRecord = {
      time: this.#clock(),
      level,
      event,
      fields: fields === undefined ? this.#bindings : { ...this.#bindings, ...fields },
    };
    if (channel.hasSubscribers) channel.publish(record);
    if (shown) this.#write(this.#format(record));
  }
}

export function createLogger(options: LoggerOptions): Logger {
  return new LineLogger(options, {});
}

/** Writes nothing; diagnostics_channel subscribers still see every event. */
export const quietLogger: Logger = createLogger({ threshold: 'off', write: () => {} });

const MAX_CAUSES = 4;

/**
 * The cause of a failure as log fields: the message, and the OS's `code`,
 * `errno` and `syscall` (ECONNREFUSED, -111, connect) when the error or one of
 * its causes carries them, so a line says what the kernel said, not only our words.
 */
export function errorFields(err: unknown): LogFields {
  if (!(err instanceof Error)) return { error: String(err) };
  let code: string | undefined;
  let errno: number | undefined;
  let syscall: string | undefined;
  let e: unknown = err;
  for (let depth = 0; depth < MAX_CAUSES && e instanceof Error; depth++) {
    const sys = e as Error & { code?: unknown; errno?: unknown; syscall?: unknown };
    if (code === undefined && typeof sys.code === 'string') code = sys.code;
    if (errno === undefined && typeof sys.errno === 'number') {
      errno = sys.errno;
      // The OS code beats a wrapper's (ERR_CONNECT_REFUSED around ECONNREFUSED says less: errno and syscall come with it).
      if (typeof sys.code === 'string') code = sys.code;
      if (typeof sys.syscall === 'string') syscall = sys.syscall;
    }
    e = e.cause;
  }
  return { error: err.message, code, errno, syscall };
}

export interface RateLimitOptions {
  /** Lines per event name per window (default 10). */
  readonly perWindow?: number;
  /** Default 1000 ms. */
  readonly windowMs?: number;
  readonly now?: () => number;
}

interface EventWindow {
  start: number;
  count: number;
  suppressed: number;
  level: LogLevel;
  timer: NodeJS.Timeout | undefined;
}

/** Shared by a rate-limited logger and its children: one budget per event name. */
class RateState {
  readonly perWindow: number;
  readonly windowMs: number;
  readonly now: () => number;
  readonly windows = new Map<string, EventWindow>();

  constructor(options: RateLimitOptions) {
    this.perWindow = options.perWindow ?? 10;
    this.windowMs = options.windowMs ?? 1000;
    this.now = options.now ?? (() => performance.now());
  }
}

/**
 * A flood of identical failures (a scanner, a dead backend under load) must not
 * flood the log: at most `perWindow` events of one name per window pass; the
 * rest are counted and summed up in one `log-suppressed` event (same level,
 * `suppressed=K`) when the window ends. Suppressed events are not published on
 * the diagnostics channel either: the summary stands for them.
 */
class RateLimitedLogger implements Logger {
  readonly #inner: Logger;
  readonly #state: RateState;

  constructor(inner: Logger, state: RateState) {
    this.#inner = inner;
    this.#state = state;
  }

  get threshold(): LogThreshold {
    return this.#inner.threshold;
  }

  enabled(level: LogLevel): boolean {
    return this.#inner.enabled(level);
  }

  error(event: string, fields?: LogFields): void {
    if (this.#admit('error', event)) this.#inner.error(event, fields);
  }
  warn(event: string, fields?: LogFields): void {
    if (this.#admit('warn', event)) this.#inner.warn(event, fields);
  }
  info(event: string, fields?: LogFields): void {
    if (this.#admit('info', event)) this.#inner.info(event, fields);
  }
  debug(event: string, fields?: LogFields): void {
    if (this.#admit('debug', event)) this.#inner.debug(event, fields);
  }

  child(bindings: LogFields): Logger {
    return new RateLimitedLogger(this.#inner.child(bindings), this.#state);
  }

  #admit(level: LogLevel, event: string): boolean {
    if (!this.#inner.enabled(level)) return false;
    const state = this.#state;
    const now = state.now();
    let w = state.windows.get(event);
    if (w === undefined) {
      w = { start: now, count: 0, suppressed: 0, level, timer: undefined };
      state.windows.set(event, w);
    } else if (now - w.start >= state.windowMs) {
      this.#flush(event, w);
      w.start = now;
      w.count = 0;
    }
    if (w.count < state.perWindow) {
      w.count++;
      return true;
    }
    w.suppressed++;
    w.level = level;
    // The summary must come even if the flood stops now; the timer never holds the process.
    w.timer ??= setTimeout(() => this.#flush(event, w), state.windowMs - (now - w.start));
    w.timer.unref();
    return false;
  }

  #flush(event: string, w: EventWindow): void {
    clearTimeout(w.timer);
    w.timer = undefined;
    if (w.suppressed === 0) return;
    const suppressed = w.suppressed;
    w.suppressed = 0;
    this.#inner[w.level]('log-suppressed', { event, suppressed });
  }
}

/** `logger`, with at most `perWindow` lines per event name per window (see RateLimitedLogger). */
export function rateLimited(logger: Logger, options: RateLimitOptions = {}): Logger {
  return new RateLimitedLogger(logger, new RateState(options));
}
