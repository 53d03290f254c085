import type { Address } from '../../src/fd/address.js';
import { VproxyError } from '../../src/fd/errors.js';
import { layerOptions, type OptionSchema } from '../../src/fd/layer-options.js';
import { boolOption, intOption, stringOption } from '../../src/fd/options.js';
import type { ServerFD } from '../../src/fd/server-fd.js';
import type { StreamFD } from '../../src/fd/stream-fd.js';
import type { ConnectOptions, OptionSpec, Transport } from '../../src/fd/transport.js';
import type { SmuxVersion } from '../smux/index.js';
import { defaultConfig, type KcptunConfig, type KcptunMode, validateConfig } from './config.js';
import { KcptunClient, KcptunServer } from './link.js';

/** kcptun's flag names, as address options (`kcptun.crypt=` in a stack). */
export const KCPTUN_OPTIONS: readonly OptionSpec[] = [
  { name: 'key', description: 'kcptun: pre-shared secret (default "it\'s a secrect")' },
  { name: 'crypt', description: 'kcptun: aes, aes-128, aes-192, salsa20, none, null (aes)' },
  { name: 'mode', description: 'kcptun: normal, fast, fast2, fast3, manual (fast)' },
  { name: 'mtu', description: 'kcptun: UDP payload bytes (1350)' },
  { name: 'sndwnd', description: 'kcptun: send window (client 128, server 1024)' },
  { name: 'rcvwnd', description: 'kcptun: receive window (client 512, server 1024)' },
  { name: 'datashard', description: 'kcptun: FEC data shards (10; 0 with parityshard 0: off)' },
  { name: 'parityshard', description: 'kcptun: FEC parity shards (3)' },
  { name: 'nocomp', description: 'kcptun: no snappy compression (0)' },
  { name: 'acknodelay', description: 'kcptun: ACK at once, not on the interval tick (0)' },
  { name: 'smuxver', description: 'kcptun: smux version 1 or 2 (1)' },
  { name: 'smuxbuf', description: 'kcptun: smux receive buffer bytes (4194304)' },
  { name: 'streambuf', description: 'kcptun: smux v2 per-stream window bytes (2097152)' },
  { name: 'keepalive', description: 'kcptun: seconds between smux NOPs (10)' },
  { name: 'conn', description: 'kcptun client: KCP connections (1)' },
  { name: 'autoexpire', description: 'kcptun client: seconds a connection takes new streams (0)' },
  {
    name: 'session-idle',
    description: 'kcptun:// dialer (ours): ms without streams before its connections close (60000)',
  },
  { name: 'sockbuf', description: 'kcptun: UDP socket buffer bytes (4194304)' },
  { name: 'nodelay', description: 'kcptun mode=manual: nodelay 0/1' },
  { name: 'interval', description: 'kcptun mode=manual: flush interval ms' },
  { name: 'resend', description: 'kcptun mode=manual: fast resend' },
  { name: 'nc', description: 'kcptun mode=manual: no congestion control 0/1' },
];

/** What an address sets; the side's defaults fill the rest at connect / listen. */
export type KcptunAddressOptions = Partial<
  Record<keyof KcptunConfig | 'session-idle', string | number | boolean>
>;

/** A kcptun:// dialer's connections close after this long without a stream. */
const DEFAULT_SESSION_IDLE_MS = 60_000;

function parseOptions(view: Address): KcptunAddressOptions {
  const out: Record<string, string | number | boolean> = {};
  for (const name of ['key', 'crypt', 'mode'] as const) {
    const v = stringOption(view, name);
    if (v !== undefined) out[name] = v;
  }
  for (const name of [
    'mtu',
    'sndwnd',
    'rcvwnd',
    'datashard',
    'parityshard',
    'smuxver',
    'smuxbuf',
    'streambuf',
    'keepalive',
    'conn',
    'autoexpire',
    'sockbuf',
    'nodelay',
    'interval',
    'resend',
    'nc',
    'session-idle',
  ] as const) {
    if (view.options[name] !== undefined) out[name] = intOption(view, name, 0, 0, 2 ** 31);
  }
  if (view.options.nocomp !== undefined) out.nocomp = boolOption(view, 'nocomp', false);
  if (view.options.acknodelay !== undefined) {
    out.acknodelay = boolOption(view, 'acknodelay', false);
  }
  // Errors now, at resolve time, not at the first connect.
  configFor('client', out);
  return out;
}

export function configFor(side: 'client' | 'server', o: KcptunAddressOptions): KcptunConfig {
  const { 'session-idle': _idle, ...options } = o;
  const c = { ...defaultConfig(side), ...options } as KcptunConfig & { mode: KcptunMode };
  return validateConfig({ ...c, smuxver: c.smuxver as SmuxVersion });
}

export const KCPTUN_SCHEMA: OptionSchema<KcptunAddressOptions> = {
  prefix: 'kcptun',
  specs: KCPTUN_OPTIONS,
  parse: (view) => parseOptions(view),
};

/**
 * `kcptun://host:port?crypt=aes&key=…`: streams of a kcptun link, wire-compatible with
 * kcptun's client and server. connect() opens a smux stream on a client shared by every
 * connect to the same address and options (its `conn` KCP connections are dialled lazily
 * and replaced when they die); listen() is a kcptun server whose streams are the
 * 'connection's.
 */
export function kcptunTransport(): Transport {
  const clients = new Map<string, KcptunClient>();
  return {
    scheme: 'kcptun',
    options: KCPTUN_OPTIONS,
    schema: KCPTUN_SCHEMA,
    async connect(address: Address, options: ConnectOptions = {}): Promise<StreamFD> {
      const o = layerOptions(address, KCPTUN_SCHEMA);
      const key = `${address.host}|${address.port}|${JSON.stringify(o)}`;
      let client = clients.get(key);
      if (client === undefined) {
        // Unlike kcptun's one-link process, a dialer shared by a daemon's backends must not
        // keep a link (its UDP socket, keepalives) for a backend nobody uses any more.
        const idleMs = Number(o['session-idle'] ?? DEFAULT_SESSION_IDLE_MS);
        client = new KcptunClient(address.host, address.port, configFor('client', o), idleMs);
        clients.set(key, client);
      }
      if (options.signal?.aborted) {
        throw new VproxyError('ERR_CONNECT_ABORTED', `kcptun connect to ${address.host}: aborted`);
      }
      return client.openStream();
    },
    async listen(address: Address): Promise<ServerFD> {
      const o = layerOptions(address, KCPTUN_SCHEMA);
      return KcptunServer.listen(address.host, address.port, configFor('server', o));
    },
  };
}
