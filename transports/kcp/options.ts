import type { Address } from '../../src/fd/address.js';
import { VproxyError } from '../../src/fd/errors.js';
import type { OptionSchema } from '../../src/fd/layer-options.js';
import { boolOption, intOption, stringOption } from '../../src/fd/options.js';
import type { OptionSpec } from '../../src/fd/transport.js';
import { MUX_OPTIONS, type MuxLayerOptions, muxLayerOptions } from '../mux/config.js';
import {
  type CongestionMode,
  type KcpOptions,
  type KcpPresetName,
  mssOf,
  PRESETS,
} from './arq/index.js';
import { DEFAULT_KCP_CRYPT, KCP_CRYPTS, type KcpCrypt, SEAL_OVERHEAD } from './crypto.js';
import { FEC_OVERHEAD, type FecShards } from './session/fec.js';
import type { SessionConfig } from './session/session.js';

// The names of the KCP sessions. `kcp://` is mux over KCP sessions: its schema (KCP_SCHEMA)
// also knows the mux names (window, ping, …), so in `mux+kcp` those are written
// `mux.window=` or `kcp.window=`.
export const KCP_OPTIONS: readonly OptionSpec[] = [
  { name: 'mode', description: 'kcp: preset normal|fast|fast2|fast3|fast4 (default fast3)' },
  { name: 'mtu', description: 'kcp: largest UDP payload in bytes, encryption included (1350)' },
  { name: 'sndwnd', description: 'kcp: send window in segments (preset: 1024)' },
  { name: 'rcvwnd', description: 'kcp: receive window in segments (preset: 1024)' },
  {
    name: 'congestion',
    description:
      'kcp: pacing (BBR-like rate and in-flight model) or classic (the reference) (pacing)',
  },
  {
    name: 'ack-repeat',
    description: 'kcp: repeat ACKs once while a gap is open (1 with congestion=pacing, else 0)',
  },
  {
    name: 'ack-delay',
    description:
      'kcp: ms a receiver with nothing to send holds its ACKs so several share one datagram; 0 sends them after every input (2)',
  },
  {
    name: 'rto-floor',
    description:
      'kcp: 1 holds the RTO above event-loop stalls seen in spurious timeouts; real losses wait it too (0)',
  },
  {
    name: 'fec',
    description:
      'kcp: forward error correction, data/parity shards per Reed-Solomon group, e.g. 10/3; both ends alike (off)',
  },
  { name: 'key', description: 'kcp: passphrase; every datagram sealed under it (default: none)' },
  {
    name: 'crypt',
    description: 'kcp: with key=, aes-128-gcm|chacha20-poly1305|secretbox (aes-128-gcm)',
  },
  {
    name: 'dead-link',
    description: 'kcp: the link is dead once a segment was sent this many times (20)',
  },
  {
    name: 'idle-timeout',
    description: 'kcp: fail a session after this many ms of silence (60000)',
  },
  { name: 'close-timeout', description: 'kcp: ms a clean close waits for ACKs (5000)' },
  { name: 'max-sessions', description: 'kcp listener: most sessions at once (1024)' },
  {
    name: 'session-buffer',
    description: 'kcp: cap on bytes one session buffers, lowers both windows (unlimited)',
  },
  { name: 'rcvbuf', description: 'kcp: SO_RCVBUF bytes of the UDP socket (4 MiB)' },
  { name: 'sndbuf', description: 'kcp: SO_SNDBUF bytes of the UDP socket (4 MiB)' },
];

export interface KcpAddressOptions {
  readonly session: SessionConfig;
  readonly key: string | undefined;
  /** The cipher under `key` (meaningless without one). */
  readonly crypt: KcpCrypt;
  /** `fec=d/p`: Reed-Solomon groups of d data and p parity datagrams; null: off. */
  readonly fec: FecShards | null;
  readonly maxSessions: number;
  readonly rcvbuf: number;
  readonly sndbuf: number;
}

const MODES: Record<string, KcpPresetName> = {
  normal: 'normal',
  fast: 'fast1',
  fast1: 'fast1',
  fast2: 'fast2',
  fast3: 'fast3',
  fast4: 'fast4',
};
const MiB = 1024 * 1024;

function invalid(address: Address, name: string, expected: string): never {
  throw new VproxyError(
    'ERR_OPTION_INVALID',
    `option "${name}=${address.options[name]}" of a ${address.scheme} address: expected ${expected}`,
  );
}

/** Reads and validates the session options of an address (KCP_SCHEMA parses it once). */
export function kcpOptionsFromAddress(address: Address): KcpAddressOptions {
  const modeText = address.options.mode ?? 'fast3';
  const preset = MODES[modeText];
  if (preset === undefined) invalid(address, 'mode', 'one of normal, fast, fast2, fast3, fast4');
  // Pacing beats classic on every lossy linkem row measured (issue 13) and moves 100 MB over a
  // 5 %-loss loopback relay in 5-7 s where classic takes 35-48; classic stays for the
  // reference behaviour (kcptun:// keeps it: kcptun's own sender is classic).
  const congestion = address.options.congestion ?? 'pacing';
  if (congestion !== 'classic' && congestion !== 'pacing') {
    invalid(address, 'congestion', 'classic or pacing');
  }
  const key = stringOption(address, 'key');
  const cryptText = address.options.crypt;
  if (cryptText !== undefined) {
    if (!(KCP_CRYPTS as readonly string[]).includes(cryptText)) {
      invalid(address, 'crypt', KCP_CRYPTS.join(', '));
    }
    if (key === undefined) invalid(address, 'crypt', 'a key= to go with it');
  }
  const crypt = (cryptText ?? DEFAULT_KCP_CRYPT) as KcpCrypt;
  const fec = fecOption(address);
  // The UDP payload stays within `mtu`: the arq's segments shrink by the seal and FEC overhead.
  const mtu = intOption(address, 'mtu', 1350, 128, 65_000);
  const arqMtu = mtu - (key === undefined ? 0 : SEAL_OVERHEAD) - (fec === null ? 0 : FEC_OVERHEAD);
  let sndWnd = intOption(address, 'sndwnd', PRESETS[preset].sndWnd ?? 1024, 1, 65_535);
  let rcvWnd = intOption(address, 'rcvwnd', PRESETS[preset].rcvWnd ?? 1024, 1, 65_535);
  const budget = intOption(address, 'session-buffer', 0, 0, 2 ** 40);
  if (budget > 0) {
    // Everything a session holds lives in its windows: split the budget between them.
    const segments = Math.floor(budget / mssOf(arqMtu));
    if (segments < 2)
      invalid(address, 'session-buffer', `at least two segments (${2 * mssOf(arqMtu)} bytes)`);
    const total = sndWnd + rcvWnd;
    if (total > segments) {
      sndWnd = Math.max(1, Math.floor((segments * sndWnd) / total));
      rcvWnd = Math.max(1, segments - sndWnd);
    }
  }
  const kcp: KcpOptions = {
    preset,
    mtu: arqMtu,
    sndWnd,
    rcvWnd,
    congestion: congestion as CongestionMode,
    // Measured (linkem, 5 % loss both ways): without it a lost ACK datagram makes the sender
    // fast-retransmit what had arrived, about as many spurious resends as real ones, which
    // pacing then spends its rate on.
    ackRepeat: boolOption(address, 'ack-repeat', congestion === 'pacing'),
    stallFloor: boolOption(address, 'rto-floor', false),
    // Measured (linkem 50 Mbit/s, pacing): one ACK datagram per data datagram cost 103 CPU
    // s/GB; held 2 ms, 56, with the same goodput and 10 MB time (kcp-go holds them 10 ms).
    ackDelay: intOption(address, 'ack-delay', 2, 0, 1000),
    deadLink: intOption(address, 'dead-link', 20, 2, 1000),
  };
  const options: KcpAddressOptions = {
    session: {
      kcp,
      idleTimeoutMs: intOption(address, 'idle-timeout', 60_000, 0, 86_400_000),
      closeTimeoutMs: intOption(address, 'close-timeout', 5_000, 0, 3_600_000),
    },
    key,
    crypt,
    fec,
    maxSessions: intOption(address, 'max-sessions', 1024, 1, 1 << 20),
    rcvbuf: intOption(address, 'rcvbuf', 4 * MiB, 0, 1 << 30),
    sndbuf: intOption(address, 'sndbuf', 4 * MiB, 0, 1 << 30),
  };
  return options;
}

/** `fec=10/3` → 10 data and 3 parity shards; `off`, `0/0` or absent: no FEC. */
function fecOption(address: Address): FecShards | null {
  const text = address.options.fec;
  if (text === undefined || text === 'off' || text === '0/0' || text === '0') return null;
  const m = /^([0-9]{1,3})\/([0-9]{1,3})$/.exec(text);
  const expected =
    'data/parity shards (1 ≤ data, 1 ≤ parity, data + parity ≤ 256, e.g. 10/3) or off';
  if (m === null) invalid(address, 'fec', expected);
  const dataShards = Number(m[1]);
  const parityShards = Number(m[2]);
  if (dataShards < 1 || parityShards < 1 || dataShards + parityShards > 256) {
    invalid(address, 'fec', expected);
  }
  return Object.freeze({ dataShards, parityShards });
}

/**
 * KCP links are long and lossy: a per-stream mux window below KCP's own send window
 * (1024 × mtu) caps one stream far below the link (measured: 27 vs 34 Mbit/s on a
 * 50 Mbit/s, 50 ms link). The window defaults above that, so KCP's window is what limits:
 * 2 MiB, above a fast3 send window of 1024 × 1350 bytes.
 */
export const KCP_STREAM_WINDOW = 2 * 1024 * 1024;

/** Everything `kcp://` reads from an address: its sessions' options and its streams'. */
export interface KcpTransportOptions {
  readonly session: KcpAddressOptions;
  readonly stream: MuxLayerOptions;
}

/** `kcp.mode=`, `kcp.key=`, `kcp.window=` (its streams' mux), … */
export const KCP_SCHEMA: OptionSchema<KcpTransportOptions> = {
  prefix: 'kcp',
  specs: [...MUX_OPTIONS, ...KCP_OPTIONS],
  parse: (view) => ({
    session: Object.freeze(kcpOptionsFromAddress(view)),
    stream: Object.freeze(muxLayerOptions(view, { window: KCP_STREAM_WINDOW })),
  }),
};
