import { KcpError } from '../errors.js';
import { OVERHEAD } from './wire.js';

/**
 * Tunables of a KCP control block and the named presets vproxy uses (spec apps.md §1.10).
 * Without a preset the defaults are the C reference's (ikcp.c), so a bare block behaves like
 * `ikcp_create` + nothing else.
 */

/** How the sender limits what it puts on the wire. */
export type CongestionMode =
  /** The reference behaviour: window-based (cwnd unless `noCwnd`), bursts once per flush. */
  | 'classic'
  /**
   * Our extension: a delivery-rate estimator (BBR-like) sets a pacing rate and an in-flight cap,
   * and each flush releases only what the rate allows since the previous one. Wire-identical.
   */
  | 'pacing';

export interface KcpTunables {
  /** Stream mode: messages merge into a byte stream, frg is always 0. */
  stream: boolean;
  /** Low-latency RTO: no rto/8 extra on first timeout, rto grows by half on each timeout. */
  nodelay: boolean;
  /** Flush cadence of update() in ms, clamped to [10, 5000] like the reference. */
  interval: number;
  /** Fast retransmit after this many later ACKs (0 = off). */
  resend: number;
  /** Ignore the congestion window when sending (kcptun's `nc`). It is still computed. */
  noCwnd: boolean;
  /** Send window in segments. */
  sndWnd: number;
  /** Receive window in segments (what we advertise when the queue is empty). */
  rcvWnd: number;
  /** Largest datagram produced, header included; mss = mtu − 24. */
  mtu: number;
  /** RTO floor in ms. */
  minRto: number;
  /** A segment transmitted this many times marks the link dead. */
  deadLink: number;
  /** Fast retransmit only while a segment's transmit count ≤ this (≤ 0 = unlimited). */
  fastLimit: number;
  /** Count fast-acks only for segments sent no later than the acked one (newer C option). */
  fastAckConserve: boolean;
  /** Sending discipline; `classic` is the reference behaviour. */
  congestion: CongestionMode;
  /**
   * Our extension: while the receive buffer has a gap, repeat the previous flush's ACKs once,
   * so one lost ACK datagram (up to mtu/24 ACKs) does not cause a burst of spurious fast
   * retransmissions. Costs 24 bytes per repeated ACK on the reverse path.
   */
  ackRepeat: boolean;
  /**
   * Our extension, off by default: a timeout retransmission proven spurious (a stalled event
   * loop, not a loss) raises a floor under the RTO (rtt.ts). It removes ~97 % of fast3's
   * spurious timeouts on a loaded loopback, but every real loss then waits the floor too: 100
   * streams over a 1 %-loss relay took 16–24 s with it against 6–7.5 s without.
   */
  stallFloor: boolean;
  /**
   * Our extension: ms a receiver with nothing else to send may hold its ACKs, so several
   * datagrams' ACKs leave in one (0 = they leave with the flush that follows each input, as
   * the reference's callers do; kcp-go holds them to the next interval tick). The session
   * layer asks holdsAcks() whether it may skip that flush; a datagram's worth leaves at once.
   */
  ackDelay: number;
  /**
   * kcp-go's early retransmit (the kcptun path turns it on): in a flush that numbers no new
   * segment (nothing queued, or the window is full), a segment that any later ACK passed is
   * resent at once instead of waiting for `resend` of them; and a fast resend restarts the
   * segment's RTO from the current estimate, as kcp-go does.
   */
  earlyRetransmit: boolean;
  /**
   * kcp-go's RTT estimator (the kcptun path turns it on): one sample per datagram, from its
   * last ACK, and RFC 6298 with a sample below srtt − rttvar weighted 1/32 instead of 1/4.
   * The reference samples every ACK: with a datagram of ~50 held ACKs that is 50 samples of one
   * moment, rttvar shrinks to the spread within a tick, and on a queue that fills and drains
   * the RTO then fires for segments that are only queued (measured below the config).
   */
  kcpGoRtt: boolean;
  /**
   * kcp-go's fast-ack count (the kcptun path turns it on): every ACK of a datagram counts once
   * for each earlier segment still unacknowledged, so a datagram of held ACKs that passes a
   * hole twice makes it due for a fast resend at once. The reference counts once per datagram
   * (its highest ACK), so with ACKs held to the tick a hole waited two ticks.
   */
  fastAckEach: boolean;
}

export type KcpPresetName = 'normal' | 'fast1' | 'fast2' | 'fast3' | 'fast4';

/**
 * vproxy's presets (spec §1.10). nodelay/interval/resend/nc of normal..fast3 equal kcptun's
 * normal/fast/fast2/fast3 ((0,40,2,1), (0,30,2,1), (1,20,2,1), (1,10,2,1)); fast4 is vproxy's
 * default (resend 1, interval 5 clamped to 10). minRto is vproxy's explicit override, which is
 * lower than kcptun's for normal/fast1 (kcptun keeps 100 when nodelay is off). Windows are
 * 1024/1024 and mtu 1250 (mss 1226) as in vproxy; kcptun uses mtu 1350.
 */
export const PRESETS: Readonly<Record<KcpPresetName, Readonly<Partial<KcpTunables>>>> = {
  normal: {
    nodelay: false,
    interval: 40,
    resend: 2,
    noCwnd: true,
    sndWnd: 1024,
    rcvWnd: 1024,
    mtu: 1250,
    minRto: 100,
  },
  fast1: {
    nodelay: false,
    interval: 30,
    resend: 2,
    noCwnd: true,
    sndWnd: 1024,
    rcvWnd: 1024,
    mtu: 1250,
    minRto: 60,
  },
  fast2: {
    nodelay: true,
    interval: 20,
    resend: 2,
    noCwnd: true,
    sndWnd: 1024,
    rcvWnd: 1024,
    mtu: 1250,
    minRto: 30,
  },
  fast3: {
    nodelay: true,
    interval: 10,
    resend: 2,
    noCwnd: true,
    sndWnd: 1024,
    rcvWnd: 1024,
    mtu: 1250,
    minRto: 30,
  },
  fast4: {
    nodelay: true,
    interval: 10,
    resend: 1,
    noCwnd: true,
    sndWnd: 1024,
    rcvWnd: 1024,
    mtu: 1250,
    minRto: 30,
  },
};

/**
 * The C reference's defaults (ikcp_create). fastAckConserve is on as in the current ikcp.c
 * (IKCP_FASTACK_CONSERVE) and kcp-go: without it, ACKs for segments sent before a fast
 * retransmission count again and burn the fastLimit on spurious resends, so a lost resend
 * then waits for the RTO.
 */
export const REFERENCE_DEFAULTS: Readonly<KcpTunables> = buildTunables({
  stream: false,
  nodelay: false,
  interval: 100,
  resend: 0,
  noCwnd: false,
  sndWnd: 32,
  rcvWnd: 128,
  mtu: 1400,
  minRto: 100,
  deadLink: 20,
  fastLimit: 5,
  fastAckConserve: true,
  congestion: 'classic',
  ackRepeat: false,
  stallFloor: false,
  ackDelay: 0,
  earlyRetransmit: false,
  kcpGoRtt: false,
  fastAckEach: false,
});

export interface KcpOptions extends Partial<KcpTunables> {
  /** Start from a named preset; explicit fields override it. */
  preset?: KcpPresetName;
}

export function isPresetName(name: string): name is KcpPresetName {
  return Object.hasOwn(PRESETS, name);
}

/** The reference's ikcp_nodelay rule (kcp-go's too): the minimum RTO is 30 ms with nodelay, 100 without. */
export function nodelayMinRto(nodelay: boolean): number {
  return nodelay ? 30 : 100;
}

/**
 * Merges reference defaults, the preset and explicit fields, then validates. When `nodelay` is
 * set but `minRto` is not, minRto follows the reference's nodelay rule (30 with, 100 without).
 */
export function resolveTunables(options: KcpOptions = {}): KcpTunables {
  const { preset, ...explicit } = options;
  if (preset !== undefined && !isPresetName(preset)) {
    throw new KcpError('ERR_KCP_CONFIG', `unknown KCP preset ${JSON.stringify(preset)}`);
  }
  const base = preset === undefined ? {} : PRESETS[preset];
  const merged: KcpTunables = { ...REFERENCE_DEFAULTS, ...base, ...dropUndefined(explicit) };
  if (explicit.minRto === undefined && base.minRto === undefined) {
    merged.minRto = nodelayMinRto(merged.nodelay);
  }
  return validateTunables(merged);
}

/**
 * Applies `changes` on top of `current`, validating the result (used for runtime changes).
 * Changing `nodelay` without `minRto` moves minRto by the reference's ikcp_nodelay rule.
 */
export function updateTunables(current: KcpTunables, changes: Partial<KcpTunables>): KcpTunables {
  const merged: KcpTunables = { ...current, ...dropUndefined(changes) };
  if (changes.nodelay !== undefined && changes.minRto === undefined) {
    merged.minRto = nodelayMinRto(merged.nodelay);
  }
  return validateTunables(merged);
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const key of Object.keys(o) as (keyof T)[]) {
    if (o[key] !== undefined) out[key] = o[key];
  }
  return out;
}

/** Checks a merged draft (any shape) and returns the block's tunables, built by buildTunables. */
function validateTunables(t: KcpTunables): KcpTunables {
  checkInt('interval', t.interval, 0, 0x7fffffff);
  checkInt('resend', t.resend, 0, 0x7fffffff);
  checkInt('sndWnd', t.sndWnd, 1, 0xffff);
  checkInt('rcvWnd', t.rcvWnd, 1, 0xffff);
  checkInt('mtu', t.mtu, 50, 0xffff);
  checkInt('minRto', t.minRto, 1, 60000);
  checkInt('deadLink', t.deadLink, 1, 0x7fffffff);
  checkInt('fastLimit', t.fastLimit, -0x80000000, 0x7fffffff);
  checkInt('ackDelay', t.ackDelay, 0, 5000);
  for (const key of [
    'stream',
    'nodelay',
    'noCwnd',
    'fastAckConserve',
    'ackRepeat',
    'stallFloor',
    'earlyRetransmit',
    'kcpGoRtt',
    'fastAckEach',
  ] as const) {
    if (typeof t[key] !== 'boolean') invalid(key, t[key], 'a boolean');
  }
  if (t.congestion !== 'classic' && t.congestion !== 'pacing') {
    invalid('congestion', t.congestion, "'classic' or 'pacing'");
  }
  return buildTunables(t);
}

/**
 * The one place a tunables object is made (REFERENCE_DEFAULTS and every resolve/update result),
 * from validated values. Why: the input and flush paths read these fields on every datagram, and
 * V8 compiles those reads against the object's hidden class. Built by object spreads, the result's
 * hidden class changed with the spread's inline-cache state (the first few blocks of a process got
 * one, the next few another, then a third) and configure() gave yet another; an on-stack-replaced
 * SegmentInput.apply compiled for one of them then deoptimized at its `t.fastAckConserve` read on
 * every ACK datagram (thousands of times per bench run, in about one run in ten). Hence one literal
 * with every field in one order, written with one value kind each: integers as int32 (`| 0` also
 * turns −0 or an integral heap number into a small integer; a double would make V8 replace the
 * class), congestion as one of the two literal strings. test/unit/kcp/config.test.ts checks it.
 */
function buildTunables(t: KcpTunables): KcpTunables {
  return {
    stream: t.stream,
    nodelay: t.nodelay,
    interval: Math.min(5000, Math.max(10, t.interval)) | 0, // clamped like the reference
    resend: t.resend | 0,
    noCwnd: t.noCwnd,
    sndWnd: t.sndWnd | 0,
    rcvWnd: t.rcvWnd | 0,
    mtu: t.mtu | 0,
    minRto: t.minRto | 0,
    deadLink: t.deadLink | 0,
    fastLimit: t.fastLimit | 0,
    fastAckConserve: t.fastAckConserve,
    congestion: t.congestion === 'pacing' ? 'pacing' : 'classic',
    ackRepeat: t.ackRepeat,
    stallFloor: t.stallFloor,
    ackDelay: t.ackDelay | 0,
    earlyRetransmit: t.earlyRetransmit,
    kcpGoRtt: t.kcpGoRtt,
    fastAckEach: t.fastAckEach,
  };
}

function checkInt(name: string, v: unknown, min: number, max: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    invalid(name, v, `an integer in [${min}, ${max}]`);
  }
}

function invalid(name: string, v: unknown, want: string): never {
  throw new KcpError('ERR_KCP_CONFIG', `KCP ${name} must be ${want}, got ${String(v)}`);
}

/** Payload bytes per segment for a given mtu. */
export function mssOf(mtu: number): number {
  return mtu - OVERHEAD;
}
