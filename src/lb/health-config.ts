import { LbError } from './errors.js';

/** `200`, or a whole class such as `'2xx'`. */
export type StatusExpectation = number | `${1 | 2 | 3 | 4 | 5}xx`;

/** Connect (every layer handshake included) counts as healthy. */
export interface TcpCheck {
  readonly kind: 'tcp';
}

/** Send one HTTP/1.1 request on the stream and compare the response status. */
export interface HttpCheck {
  readonly kind: 'http';
  /** Default `GET`. */
  readonly method?: string;
  /** Default `/`. */
  readonly path?: string;
  /** Host header; default the target's `host[:port]`. */
  readonly host?: string;
  /** Healthy statuses; default 2xx and 3xx (as HAProxy's http-check). */
  readonly expect?: readonly StatusExpectation[];
}

/** No probing: the server is always UP (and passive failures are ignored). */
export interface NoCheck {
  readonly kind: 'none';
}

/**
 * Send one datagram to the server's host:port over UDP and count any answer as healthy
 * (a UDP service says nothing to a TCP connect, and many answer only a valid request:
 * give a payload it answers, e.g. a DNS query).
 */
export interface UdpCheck {
  readonly kind: 'udp';
  /** The probe datagram, hex; default one zero byte. */
  readonly payload?: string;
}

export type CheckSpec = TcpCheck | HttpCheck | UdpCheck | NoCheck;

export interface HealthCheckConfig {
  /** A probe that has not finished after this long failed. */
  readonly timeoutMs: number;
  /** Fixed delay between the end of one probe and the start of the next. */
  readonly periodMs: number;
  /** Net successes that turn a DOWN server UP. */
  readonly up: number;
  /** Net failures that turn an UP server DOWN. */
  readonly down: number;
  readonly check: CheckSpec;
}

export const DEFAULT_HEALTH_CHECK: HealthCheckConfig = Object.freeze({
  timeoutMs: 1000,
  periodMs: 2000,
  up: 2,
  down: 3,
  check: Object.freeze({ kind: 'tcp' }),
});

/** An HTTP check with every default filled in. */
export interface ResolvedHttpCheck {
  readonly method: string;
  readonly path: string;
  readonly host: string | undefined;
  readonly expect: readonly StatusExpectation[];
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/; // RFC 9110 method token
const PATH = /^\/[\x21-\x7e]{0,2047}$/; // origin-form, visible ASCII: nothing can break the request line
const HOST = /^[\x21-\x7e]{1,261}$/;
const MAX_THRESHOLD = 1000;
const MAX_MS = 24 * 3600 * 1000;

function invalid(message: string): never {
  throw new LbError('ERR_HEALTH_CHECK_INVALID', `invalid health check config: ${message}`);
}

function intIn(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    invalid(`${name} must be an integer in ${min}..${max}, got ${String(value)}`);
  }
  return value;
}

/** Throws ERR_HEALTH_CHECK_INVALID naming the bad field; returns the config, frozen. */
export function validateHealthCheck(config: HealthCheckConfig): HealthCheckConfig {
  intIn('timeout', config.timeoutMs, 1, MAX_MS);
  intIn('period', config.periodMs, 1, MAX_MS);
  intIn('up', config.up, 1, MAX_THRESHOLD);
  intIn('down', config.down, 1, MAX_THRESHOLD);
  const check = config.check;
  if (check === null || typeof check !== 'object') invalid('missing check kind');
  if (check.kind === 'http') resolveHttpCheck(check);
  else if (check.kind === 'udp') udpPayload(check);
  else if (check.kind !== 'tcp' && check.kind !== 'none') {
    invalid(`unknown check kind ${JSON.stringify((check as { kind: unknown }).kind)}`);
  }
  return Object.freeze({ ...config, check: Object.freeze({ ...check }) });
}

/** The check kinds, as the command language spells them (help and errors list these). */
export const CHECK_SYNTAX = 'tcp, none, udp, udp:HEX, http or http:METHOD:/path:STATUS';

const CHECK_TEXT =
  /^(?:(tcp|none)|udp(?::((?:[0-9a-fA-F]{2}){1,1400}))?|http(?::([A-Z]+)(?::(\/[\x21-\x7e]*?)(?::([1-5][0-9][0-9]))?)?)?)$/;

/**
 * A check as the command language and saved configs write it — `tcp`, `none`,
 * `udp`, `udp:HEX`, `http`, `http:METHOD`, `http:METHOD:/path`,
 * `http:METHOD:/path:STATUS` — parsed into a CheckSpec, once, by the command
 * parser; throws ERR_HEALTH_CHECK_INVALID saying what is accepted.
 */
export function parseCheckSpec(text: string): CheckSpec {
  const m = CHECK_TEXT.exec(text);
  if (!m) invalid(`invalid check ${JSON.stringify(text)}: expected ${CHECK_SYNTAX}`);
  const [, plain, payload, method, path, status] = m;
  if (plain === 'tcp' || plain === 'none') return { kind: plain };
  if (text.startsWith('udp'))
    return payload === undefined ? { kind: 'udp' } : { kind: 'udp', payload };
  return {
    kind: 'http',
    ...(method === undefined ? {} : { method }),
    ...(path === undefined ? {} : { path }),
    ...(status === undefined ? {} : { expect: [Number(status)] }),
  };
}

/** The probe datagram of a udp check (validated: even-length hex, 1..1400 bytes). */
export function udpPayload(check: UdpCheck): Buffer {
  const hex = check.payload ?? '00';
  if (!/^(?:[0-9a-fA-F]{2}){1,1400}$/.test(hex)) {
    invalid(`udp payload ${JSON.stringify(hex)} must be 1..1400 bytes of hex`);
  }
  return Buffer.from(hex, 'hex');
}

/** Fill in defaults and reject anything that could not go on a request line as is. */
export function resolveHttpCheck(check: HttpCheck): ResolvedHttpCheck {
  const method = check.method ?? 'GET';
  if (!TOKEN.test(method)) invalid(`http method ${JSON.stringify(method)} is not a token`);
  const path = check.path ?? '/';
  if (!PATH.test(path)) {
    invalid(`http path ${JSON.stringify(path)} must start with "/" and hold visible ASCII only`);
  }
  if (check.host !== undefined && !HOST.test(check.host)) {
    invalid(`http host ${JSON.stringify(check.host)} must be visible ASCII without spaces`);
  }
  const expect = check.expect ?? ['2xx', '3xx'];
  if (expect.length === 0) invalid('expect lists no status');
  for (const e of expect) checkExpectation(e);
  return { method, path, host: check.host, expect };
}

function checkExpectation(e: StatusExpectation): void {
  if (typeof e === 'number') {
    if (!Number.isInteger(e) || e < 100 || e > 599) invalid(`status ${e} is not in 100..599`);
  } else if (!/^[1-5]xx$/.test(e)) {
    invalid(`status class ${JSON.stringify(e)} is not one of 1xx..5xx`);
  }
}

/** Parse `"200,3xx"` (the command/config form) into expectations. */
export function parseExpectedStatuses(text: string): StatusExpectation[] {
  const out: StatusExpectation[] = [];
  for (const part of text.split(',')) {
    const p = part.trim().toLowerCase();
    if (/^[1-5]xx$/.test(p)) out.push(p as StatusExpectation);
    else if (/^[1-5][0-9][0-9]$/.test(p)) out.push(Number(p));
    else
      invalid(`expected status ${JSON.stringify(part)} is neither a code (200) nor a class (2xx)`);
  }
  return out;
}

export function statusMatches(status: number, expect: readonly StatusExpectation[]): boolean {
  for (const e of expect) {
    if (typeof e === 'number' ? status === e : Math.floor(status / 100) === Number(e[0])) {
      return true;
    }
  }
  return false;
}
