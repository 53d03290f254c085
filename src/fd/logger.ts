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
