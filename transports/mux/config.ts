import type { Address } from '../../src/fd/address.js';
import { VproxyError } from '../../src/fd/errors.js';
import type { OptionSchema } from '../../src/fd/layer-options.js';
import { boolOption, intOption } from '../../src/fd/options.js';
import type { OptionSpec } from '../../src/fd/transport.js';
import { MAX_PAYLOAD } from './frame.js';
import { MIN_FRAME_SETTING } from './settings.js';

/** Tunables of one mux session (both sides). */
export interface MuxOptions {
  /** Per-stream receive window in bytes: the most one stream can have buffered here. */
  readonly window?: number;
  /** Most streams the peer may have open on this session at once. */
  readonly maxStreams?: number;
  /** Largest DATA payload we accept and send. */
  readonly maxFrame?: number;
  /** Cap on received-but-unread bytes over all streams: lowers maxStreams to maxBuffered / window. */
  readonly maxBuffered?: number;
  /** Send a PING after this long without hearing from the peer (0 = never). */
  readonly pingMs?: number;
  /** The session fails when nothing at all arrives this long after a PING. */
  readonly pingTimeoutMs?: number;
  /** The peer's handshake must arrive within this long. */
  readonly handshakeTimeoutMs?: number;
  /** Client: send the reference's empty handshake (no per-stream flow control). */
  readonly legacy?: boolean;
  /**
   * Client (not legacy): open streams without waiting for the server's handshake (SYN and
   * up to EARLY_DATA_MAX bytes right behind our SETTINGS), and hand a stream to its caller
   * without waiting for its SYN-ACK once the session has heard the server.
   */
  readonly early?: boolean;
  /** gzip DATA payloads over 1 KiB when that makes them smaller (the reference's behaviour). */
  readonly gzip?: boolean;
  /** The `kind` label of the streams (default `mux+<inner kind>`). */
  readonly kind?: string;
}

export type MuxConfig = Required<Omit<MuxOptions, 'kind'>> & { readonly kind: string | undefined };

const KiB = 1024;
const MiB = 1024 * KiB;

export const MUX_DEFAULTS: MuxConfig = {
  window: 256 * KiB,
  maxStreams: 1024,
  maxFrame: 64 * KiB,
  maxBuffered: 256 * MiB,
  pingMs: 10_000,
  pingTimeoutMs: 10_000,
  handshakeTimeoutMs: 10_000,
  legacy: false,
  early: true,
  gzip: false,
  kind: undefined,
};

/** Bounds of every numeric tunable: [min, max]. */
export const MUX_BOUNDS = {
  window: [MIN_FRAME_SETTING, 64 * MiB],
  maxStreams: [1, 1 << 20],
  maxFrame: [MIN_FRAME_SETTING, MAX_PAYLOAD],
  maxBuffered: [MIN_FRAME_SETTING, 2 ** 40],
  pingMs: [0, 86_400_000],
  pingTimeoutMs: [10, 3_600_000],
  handshakeTimeoutMs: [10, 3_600_000],
} as const satisfies Record<string, readonly [number, number]>;

/** Fill in defaults and check ranges; throws ERR_OPTION_INVALID naming the bad tunable. */
export function muxConfig(options: MuxOptions = {}): MuxConfig {
  const config: MuxConfig = { ...MUX_DEFAULTS, ...stripUndefined(options) };
  for (const [name, [min, max]] of Object.entries(MUX_BOUNDS)) {
    const value = config[name as keyof typeof MUX_BOUNDS];
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new VproxyError(
        'ERR_OPTION_INVALID',
        `mux option ${name}=${value}: expected an integer in ${min}..${max}`,
      );
    }
  }
  if (config.maxBuffered < config.window) {
    throw new VproxyError(
      'ERR_OPTION_INVALID',
      `mux option maxBuffered=${config.maxBuffered} is smaller than one window (${config.window})`,
    );
  }
  return config;
}

/** How many streams the peer may open: the stream limit, lowered by the memory budget. */
export function effectiveMaxStreams(config: MuxConfig): number {
  return Math.max(1, Math.min(config.maxStreams, Math.floor(config.maxBuffered / config.window)));
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// Address options. Names are chosen not to collide with those of the transports
// below (tcp already has `keepalive`, in seconds), since all layers of a scheme
// read the same query string.
export const MUX_OPTIONS: readonly OptionSpec[] = [
  { name: 'window', description: 'mux: per-stream receive window in bytes (default 262144)' },
  { name: 'max-streams', description: 'mux: streams the peer may open at once (default 1024)' },
  { name: 'max-frame', description: 'mux: largest DATA frame payload in bytes (default 65536)' },
  {
    name: 'max-buffered',
    description: 'mux: cap on unread received bytes per session (default 256 MiB)',
  },
  { name: 'ping', description: 'mux: PING after this many ms without traffic, 0 = off (10000)' },
  {
    name: 'ping-timeout',
    description: 'mux: fail the session this many ms after an unanswered PING (10000)',
  },
  { name: 'handshake-timeout', description: 'mux: ms to wait for the peer handshake (10000)' },
  {
    name: 'legacy',
    description: 'mux client: reference handshake, no per-stream flow control (0)',
  },
  {
    name: 'early',
    description: 'mux client: streams open and send before the handshake and their SYN-ACK (1)',
  },
  { name: 'gzip', description: 'mux: gzip DATA over 1 KiB when smaller, like the reference (0)' },
  { name: 'sessions', description: 'mux client: spread streams over this many sessions (1)' },
  {
    name: 'streams-per-session',
    description: 'mux client: open another session once one carries this many streams',
  },
  {
    name: 'session-idle',
    description: 'mux client: close a session left without streams this many ms (60000)',
  },
];

/** Client-side pooling of sessions per target. */
export interface PoolOptions {
  readonly sessions: number;
  readonly streamsPerSession: number;
  readonly sessionIdleMs: number;
}

/** `defaults` lets a stack that embeds mux pick its own (kcp's larger window). */
export function muxOptionsFromAddress(
  address: Address,
  defaults: Partial<MuxConfig> = {},
): MuxOptions {
  const b = MUX_BOUNDS;
  const d = { ...MUX_DEFAULTS, ...defaults };
  const options: MuxOptions = {
    window: intOption(address, 'window', d.window, ...b.window),
    maxStreams: intOption(address, 'max-streams', d.maxStreams, ...b.maxStreams),
    maxFrame: intOption(address, 'max-frame', d.maxFrame, ...b.maxFrame),
    maxBuffered: intOption(address, 'max-buffered', d.maxBuffered, ...b.maxBuffered),
    pingMs: intOption(address, 'ping', d.pingMs, ...b.pingMs),
    pingTimeoutMs: intOption(address, 'ping-timeout', d.pingTimeoutMs, ...b.pingTimeoutMs),
    handshakeTimeoutMs: intOption(
      address,
      'handshake-timeout',
      d.handshakeTimeoutMs,
      ...b.handshakeTimeoutMs,
    ),
    legacy: boolOption(address, 'legacy', d.legacy),
    early: boolOption(address, 'early', d.early),
    gzip: boolOption(address, 'gzip', d.gzip),
  };
  if ((options.maxBuffered as number) < (options.window as number)) {
    throw new VproxyError(
      'ERR_OPTION_INVALID',
      `option "max-buffered=${options.maxBuffered}" of a ${address.scheme} address: smaller than one window (${options.window})`,
    );
  }
  return options;
}

export function poolOptionsFromAddress(address: Address): PoolOptions {
  return {
    sessions: intOption(address, 'sessions', 1, 1, 1024),
    streamsPerSession: intOption(address, 'streams-per-session', 1 << 30, 1, 1 << 30),
    sessionIdleMs: intOption(address, 'session-idle', 60_000, 0, 86_400_000),
  };
}

/** Everything a mux layer reads from an address, parsed once. */
export interface MuxLayerOptions {
  readonly mux: MuxOptions;
  readonly pool: PoolOptions;
  /** The address set handshake-timeout itself (it then wins over the listener's deadline). */
  readonly handshakeTimeoutSet: boolean;
}

export function muxLayerOptions(
  address: Address,
  defaults: Partial<MuxConfig> = {},
): MuxLayerOptions {
  return {
    mux: Object.freeze(muxOptionsFromAddress(address, defaults)),
    pool: Object.freeze(poolOptionsFromAddress(address)),
    handshakeTimeoutSet: address.options['handshake-timeout'] !== undefined,
  };
}

/** `mux.window=`, `mux.ping=`, … (bare where no other layer of the stack knows the name). */
export const MUX_SCHEMA: OptionSchema<MuxLayerOptions> = {
  prefix: 'mux',
  specs: MUX_OPTIONS,
  parse: (view) => muxLayerOptions(view),
};
