import type { LogFormat, LogThreshold } from '../fd/logger.js';
import type { ProxyStats } from '../proxy/proxy.js';
import type { SessionInfo } from '../proxy/session.js';

// The IPC protocol between the main process (control plane) and its worker
// processes (data plane). One channel per worker (the fork's IPC pipe); Node
// delivers its messages in order, so a worker applies changes in the order the
// control plane made them. Every request carries a `seq`; the worker answers
// each with a `reply` of the same seq.

/** How a worker gets its listen socket. */
export type ListenMode =
  /** Main bound the port; every worker of the group listens on that one socket (sent with the message). */
  | 'shared'
  /** The worker binds the address itself (one worker per listener: kcp/udp, aliases). */
  | 'own';

export interface ServerState {
  readonly name: string;
  readonly address: string;
  readonly weight: number;
  /** UP as main's health check says. */
  readonly up: boolean;
}

export interface GroupState {
  readonly name: string;
  readonly method: string;
  readonly servers: readonly ServerState[];
}

export interface MemberState {
  readonly group: GroupState;
  readonly weight: number;
  readonly hosts: readonly string[];
  readonly isDefault: boolean;
}

export interface RuleState {
  readonly name: string;
  readonly network: string;
  readonly protocol: string;
  readonly ports: { readonly min: number; readonly max: number };
  readonly action: string;
}

/** What a socks5-server's copy needs besides a listener's state (its setters change it). */
export interface Socks5State {
  readonly allowNonBackend: boolean;
  readonly udp: boolean;
  /** RFC 1929 users (name, password); empty: no authentication. */
  readonly users: readonly (readonly [string, string])[];
  /** UDP associations alive at once: each worker's own bound. */
  readonly maxAssociations: number;
  /** Idle time before an association closes (associations made from then on). */
  readonly udpIdleTimeoutMs: number;
}

/** Everything a worker's copy of a listener needs besides its socket: the whole of it, every time. */
export interface ListenerState {
  readonly settings: {
    readonly idleTimeoutMs: number;
    readonly finTimeoutMs: number;
    readonly inBufferSize: number;
    readonly outBufferSize: number;
    readonly retries: number;
    readonly accessLog: boolean;
  };
  readonly securityGroup: {
    readonly name: string;
    readonly defaultAction: string;
    readonly rules: readonly RuleState[];
  };
  readonly upstream: { readonly name: string; readonly members: readonly MemberState[] };
  /** A socks5-server's policy (kind `socks5-server` only). */
  readonly socks5?: Socks5State;
}

/** What runs on the workers: the command language's two stream listeners. */
export type ListenerKind = 'tcp-lb' | 'socks5-server';

export interface ListenerSpec {
  /** Unique in the main process (a tcp-lb's name can be reused after a remove). */
  readonly id: string;
  readonly kind: ListenerKind;
  readonly name: string;
  readonly address: string;
  readonly mode: ListenMode;
  /** Mode `shared`: the scheme's stack spelled out down to `tcp` (`tls+tcp`), which the worker puts over the handle. */
  readonly listenScheme?: string;
  readonly acceptProxyProtocol?: boolean;
  readonly sendProxyProtocol?: 1 | 2;
  readonly connectTimeoutMs?: number;
  readonly state: ListenerState;
}

/**
 * Live connections to one of main's servers held elsewhere than this
 * worker's copy of a listener: the group's total (every worker, every
 * listener, main's own) minus this copy's, as main last heard. wlc adds it to
 * the copy's own live count, so each worker balances the group's total.
 */
export type Elsewhere = readonly (readonly [
  group: string,
  name: string,
  address: string,
  connections: number,
])[];

export type ToWorker =
  /** The first message: who the worker is and how it logs. */
  | {
      readonly t: 'hello';
      readonly seq: number;
      readonly loop: string;
      readonly logLevel: LogThreshold;
      readonly logFormat: LogFormat;
    }
  /** Start a listener (mode `shared`: the listen handle comes with this message). */
  | { readonly t: 'start'; readonly seq: number; readonly spec: ListenerSpec }
  | {
      readonly t: 'state';
      readonly seq: number;
      readonly id: string;
      readonly state: ListenerState;
    }
  | { readonly t: 'stop'; readonly seq: number; readonly id: string }
  /** Stop accepting, keep the sessions (SIGTERM's drain). */
  | { readonly t: 'drain'; readonly seq: number; readonly id: string }
  | { readonly t: 'kill'; readonly seq: number; readonly id: string; readonly session: number }
  /** The servers with connections elsewhere (those left out have none); sent when it changes. */
  | {
      readonly t: 'elsewhere';
      readonly seq: number;
      readonly id: string;
      readonly servers: Elsewhere;
    }
  /** Counters and sessions of every listener, now. */
  | { readonly t: 'query'; readonly seq: number }
  /** Close every listener and session, then exit. */
  | { readonly t: 'shutdown'; readonly seq: number };

/**
 * One server's counters in one worker's copy of a listener, cumulative since
 * the worker started: main adds the growth since the last report to its own
 * Server (src/workers/server-ledger.ts), so a server's totals, its live
 * connections and its passive health span every worker.
 */
export interface ServerTotals {
  /** This worker's copy of the server (a new one when it is re-added or its address changes). */
  readonly id: number;
  /** The server group's name, the server's name and address: which of main's servers. */
  readonly group: string;
  readonly name: string;
  readonly address: string;
  readonly active: number;
  readonly total: number;
  /** Bytes from / to the server, live (open connections included). */
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly connectFailures: number;
  readonly redispatches: number;
  /** The last connect failure, for main's passive health check. */
  readonly lastError?: { readonly message: string; readonly code?: string };
}

export interface ListenerReport {
  readonly stats: ProxyStats;
  /** Servers this listener's copy has used (connections, bytes, failures). */
  readonly servers?: readonly ServerTotals[];
  readonly sessions?: readonly SessionInfo[];
  /** A socks5-server's UDP associations: alive now, and refused (at its max) since the start. */
  readonly udp?: { readonly associations: number; readonly refused: number };
}

export type FromWorker =
  | {
      readonly t: 'reply';
      readonly seq: number;
      readonly ok: boolean;
      /** `ok: false`: the error, with its code. */
      readonly error?: { readonly message: string; readonly code?: string };
      /**
       * To `query`: every listener, by id. To `stop`: the stopped listener's last
       * report. To `kill`: whether the session was found.
       */
      readonly listeners?: Readonly<Record<string, ListenerReport>>;
      readonly found?: boolean;
      /** To `start`: the address the listener is bound to (mode `own`: the worker's socket). */
      readonly bound?: { readonly host: string; readonly port: number };
    }
  /**
   * Pushed at most every STATS_PUSH_MS while counters move, so /metrics stays
   * fresh without a query; at once after a connect failure (passive health).
   */
  | { readonly t: 'stats'; readonly listeners: Readonly<Record<string, ListenerReport>> };

export const STATS_PUSH_MS = 200;
