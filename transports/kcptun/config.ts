import { FEC_HEADER_SIZE_PLUS2 } from '../fec/index.js';
import { type KcpOptions, nodelayMinRto } from '../kcp/arq/index.js';
import { OVERHEAD } from '../kcp/arq/wire.js';
import { createPacketCrypt, deriveKey, type PacketCrypt } from '../kcpgo-crypt/index.js';
import type { SmuxVersion } from '../smux/index.js';
import { KcptunError } from './errors.js';

/**
 * Everything one end of a kcptun link is configured with: kcptun's own flag names
 * (camelCased where Go's JSON tags are), so the CLI, the JSON config (`-c`) and the
 * `kcptun://` address all fill the same object.
 */
export interface KcptunConfig {
  readonly key: string;
  readonly crypt: string;
  readonly mode: KcptunMode;
  /** Only with mode manual (kcptun's hidden flags). */
  readonly nodelay: number;
  readonly interval: number;
  readonly resend: number;
  readonly nc: number;
  /** ACK every batch of input at once instead of on the interval tick (kcp-go's flag). */
  readonly acknodelay: boolean;
  readonly mtu: number;
  readonly sndwnd: number;
  readonly rcvwnd: number;
  readonly datashard: number;
  readonly parityshard: number;
  readonly nocomp: boolean;
  readonly sockbuf: number;
  readonly smuxver: SmuxVersion;
  readonly smuxbuf: number;
  readonly streambuf: number;
  /** Seconds between smux NOPs. */
  readonly keepalive: number;
  /** Client: KCP connections to open (streams are spread round-robin). */
  readonly conn: number;
  /** Client: seconds after which a connection takes no new streams (0 = never). */
  readonly autoexpire: number;
  /** Client: seconds an expired connection may live on for its streams. */
  readonly scavengettl: number;
}

export const KCPTUN_MODES = ['normal', 'fast', 'fast2', 'fast3', 'manual'] as const;
export type KcptunMode = (typeof KCPTUN_MODES)[number];

/** kcptun's profiles: nodelay, interval ms, resend, nc (client/main.go, server/main.go). */
const PROFILES: Readonly<Record<Exclude<KcptunMode, 'manual'>, readonly number[]>> = {
  normal: [0, 40, 2, 1],
  fast: [0, 30, 2, 1],
  fast2: [1, 20, 2, 1],
  fast3: [1, 10, 2, 1],
};

/** Debian kcptun 20210922's defaults (`kcptun-client --help`); the server's windows differ. */
export function defaultConfig(side: 'client' | 'server'): KcptunConfig {
  return {
    key: "it's a secrect",
    crypt: 'aes',
    mode: 'fast',
    nodelay: 0,
    interval: 50,
    resend: 0,
    nc: 0,
    acknodelay: false,
    mtu: 1350,
    sndwnd: side === 'client' ? 128 : 1024,
    rcvwnd: side === 'client' ? 512 : 1024,
    datashard: 10,
    parityshard: 3,
    nocomp: false,
    sockbuf: 4194304,
    smuxver: 1,
    smuxbuf: 4194304,
    streambuf: 2097152,
    keepalive: 10,
    conn: 1,
    autoexpire: 0,
    scavengettl: 600,
  };
}

export function configError(message: string): KcptunError {
  return new KcptunError('ERR_KCPTUN_CONFIG', message);
}

/** Checks a merged config; throws ERR_KCPTUN_CONFIG naming the first bad field. */
export function validateConfig(c: KcptunConfig): KcptunConfig {
  if (!(KCPTUN_MODES as readonly string[]).includes(c.mode)) {
    throw configError(`mode "${c.mode}": expected one of ${KCPTUN_MODES.join(', ')}`);
  }
  const ints: [keyof KcptunConfig, number, number][] = [
    ['mtu', 128, 65000],
    ['sndwnd', 1, 65535],
    ['rcvwnd', 1, 65535],
    ['datashard', 0, 255],
    ['parityshard', 0, 255],
    ['smuxbuf', 1024, 2 ** 31],
    ['streambuf', 1024, 2 ** 31],
    ['keepalive', 1, 86400],
    ['conn', 1, 1024],
    ['autoexpire', 0, 2 ** 31],
    ['scavengettl', 0, 2 ** 31],
    ['sockbuf', 0, 2 ** 30],
    ['interval', 0, 5000],
    ['resend', 0, 1000],
  ];
  for (const [name, min, max] of ints) {
    const v = c[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw configError(`${name} ${String(v)}: expected an integer in [${min}, ${max}]`);
    }
  }
  if (c.smuxver !== 1 && c.smuxver !== 2) {
    throw configError(`smuxver ${String(c.smuxver)}: expected 1 or 2`);
  }
  if ((c.datashard === 0) !== (c.parityshard === 0)) {
    throw configError('datashard and parityshard: both 0 (FEC off) or both positive');
  }
  effectiveCrypt(c.crypt);
  return c;
}

/**
 * The cipher the Debian 20210922 peer actually runs for a `--crypt` name: its switch
 * falls back to aes for names it does not know, and `null` is one of them (the
 * null-comp-v1 fixture decrypts with aes). We follow it, so `--crypt null` talks to that
 * peer; the header-less `null` of newer kcptun is `crypt=null-raw`.
 */
export function effectiveCrypt(name: string): string {
  switch (name) {
    case 'aes':
    case 'aes-128':
    case 'aes-192':
    case 'salsa20':
    case 'none':
    case 'aes-128-gcm':
      return name;
    case 'null':
      return 'aes';
    case 'null-raw':
      return 'null';
    default:
      throw configError(
        `crypt "${name}": this build implements aes, aes-128, aes-192, salsa20, none, null, null-raw, aes-128-gcm`,
      );
  }
}

export function makeCrypt(c: KcptunConfig): PacketCrypt {
  const name = effectiveCrypt(c.crypt);
  return createPacketCrypt(name, deriveKey(c.key));
}

/** Bytes kcp-go puts before a KCP packet: crypt header and, with FEC, its 8-byte header. */
export function headerSize(c: KcptunConfig, crypt: PacketCrypt): number {
  return crypt.overhead + (c.datashard > 0 ? FEC_HEADER_SIZE_PLUS2 : 0);
}

/** The arq tunables kcp-go sets for this config (SetNoDelay, SetWindowSize, SetMtu). */
export function kcpOptions(c: KcptunConfig, crypt: PacketCrypt): KcpOptions {
  const [nodelay, interval, resend, nc] =
    c.mode === 'manual' ? [c.nodelay, c.interval, c.resend, c.nc] : PROFILES[c.mode];
  const mtu = c.mtu - headerSize(c, crypt);
  if (mtu <= OVERHEAD) throw configError(`mtu ${c.mtu}: too small for the headers`);
  return {
    nodelay: nodelay === 1,
    interval: interval as number,
    resend: resend as number,
    noCwnd: nc === 1,
    sndWnd: c.sndwnd,
    rcvWnd: c.rcvwnd,
    mtu,
    minRto: nodelayMinRto(nodelay === 1),
    congestion: 'classic',
    // kcp-go resends a segment any later ACK passed when a flush has no new segment to send;
    // without it our pair trailed kcptun at 1-2 % loss (33.6 vs 37.6 Mbit/s at 1 %).
    earlyRetransmit: true,
    kcpGoRtt: true,
    fastAckEach: true,
  };
}
