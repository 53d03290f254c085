import type { FecDecoder } from '../fec/index.js';
import type { KcpSession } from '../kcp/session/session.js';

/**
 * kcp-go's DefaultSnmp (v5.6.1, snmp.go): one process-wide set of counters for every kcptun
 * session and socket, which kcptun's `--snmplog` writes as CSV. The columns, in the order of
 * kcp-go's Header() (which is not the struct's order: the FEC four are reversed).
 */
export const SNMP_FIELDS = [
  'BytesSent',
  'BytesReceived',
  'MaxConn',
  'ActiveOpens',
  'PassiveOpens',
  'CurrEstab',
  'InErrs',
  'InCsumErrors',
  'KCPInErrors',
  'InPkts',
  'OutPkts',
  'InSegs',
  'OutSegs',
  'InBytes',
  'OutBytes',
  'RetransSegs',
  'FastRetransSegs',
  'EarlyRetransSegs',
  'LostSegs',
  'RepeatSegs',
  'FECParityShards',
  'FECErrs',
  'FECRecovered',
  'FECShortShards',
] as const;

export type SnmpField = (typeof SNMP_FIELDS)[number];
export type SnmpCounters = Record<SnmpField, number>;

export function zeroSnmp(): SnmpCounters {
  return Object.fromEntries(SNMP_FIELDS.map((f) => [f, 0])) as SnmpCounters;
}

/** kcptun's header line: `Unix`, then Header() (encoding/csv, `\n`-terminated). */
export function snmpHeaderLine(): string {
  return `Unix,${SNMP_FIELDS.join(',')}\n`;
}

/** One CSV line: the Unix time in seconds, then the counters (integers, as fmt.Sprint prints). */
export function snmpCsvLine(unixSeconds: number, c: SnmpCounters): string {
  const cells = [String(Math.floor(unixSeconds))];
  for (const f of SNMP_FIELDS) cells.push(String(Math.max(0, Math.floor(c[f]))));
  return `${cells.join(',')}\n`;
}

/** What a KcptunEndpoint counts on its socket (KcptunEndpointStats, structurally). */
export interface SnmpEndpointCounters {
  readonly datagramsIn: number;
  readonly datagramsOut: number;
  readonly cryptDropped: number;
  readonly stray: number;
  readonly socketErrors: number;
  /** Decrypted bytes of the datagrams the crypt accepted (FEC header + KCP). */
  readonly bytesIn?: number;
  /** UDP payload bytes sent. */
  readonly bytesOut?: number;
}

/** What sessions' readers and writers moved (KcpStream's counters, when it is the sink). */
interface ByteCounts {
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

interface LiveSession {
  readonly session: KcpSession;
  readonly fec: FecDecoder | null;
}

/**
 * Adds one endpoint's socket counters. InPkts: kcp-go counts the datagrams that reached a
 * session (decrypted, long enough); ours are the datagrams the crypt accepted, a few
 * strays (no session for them) more. InCsumErrors also has the datagrams too short for the
 * crypt header, which kcp-go drops uncounted. KCPInErrors gets the strays (a wrong conv is
 * kcp.Input's -1 in kcp-go); InErrs the socket's errors (kcp-go: read errors only).
 */
export function addEndpoint(into: SnmpCounters, e: SnmpEndpointCounters): void {
  into.InErrs += e.socketErrors;
  into.InCsumErrors += e.cryptDropped;
  into.KCPInErrors += e.stray;
  into.InPkts += e.datagramsIn - e.cryptDropped;
  into.OutPkts += e.datagramsOut;
  into.InBytes += e.bytesIn ?? 0;
  into.OutBytes += e.bytesOut ?? 0;
}

/**
 * Adds one session's control block and FEC decoder counters (see the README for the map).
 * kcp-go increments its counters where ours are counted, except: RepeatSegs counts only
 * datagrams that came as themselves (not rebuilt by FEC) in kcp-go, ours all of them;
 * FECShortShards counts data shards given up in kcp-go, ours groups given up (lostGroups).
 */
export function addSession(into: SnmpCounters, session: KcpSession, fec: FecDecoder | null): void {
  const s = session.kcp.stats;
  const io = byteCounts(session);
  into.BytesSent += io?.bytesWritten ?? 0;
  // No stream on the session: what the block accepted is what its reader would get.
  into.BytesReceived += io?.bytesRead ?? s.inBytes;
  into.KCPInErrors += s.inRejected;
  into.InSegs += s.inSegments;
  into.OutSegs += s.outSegments;
  // kcp-go: RetransSegs = LostSegs + FastRetransSegs + EarlyRetransSegs; our pacing mode's
  // extra copies of a stuck head segment (not on the kcptun path, whose congestion is
  // classic) are retransmissions too.
  into.RetransSegs += s.retransmitTimeout + s.retransmitFast + s.retransmitDuplicate;
  into.FastRetransSegs += s.retransmitFast - s.retransmitEarly;
  into.EarlyRetransSegs += s.retransmitEarly;
  into.LostSegs += s.retransmitTimeout;
  // kcp-go's "repeat": a PUSH we already had, or beyond the receive window (dropped).
  into.RepeatSegs += s.inPushDuplicate + s.inPushBeyondWindow;
  if (fec !== null) {
    const f = fec.stats;
    into.FECParityShards += f.parityShards;
    into.FECErrs += f.badRecovered;
    into.FECRecovered += f.recovered;
    into.FECShortShards += f.lostGroups;
    // kcp-go: an FEC packet shorter than its header is an InErrs.
    into.InErrs += f.malformed;
  }
}

function byteCounts(session: KcpSession): ByteCounts | null {
  const sink: unknown = session.sink;
  if (typeof sink !== 'object' || sink === null) return null;
  const io = sink as Partial<ByteCounts>;
  return typeof io.bytesRead === 'number' && typeof io.bytesWritten === 'number'
    ? (io as ByteCounts)
    : null;
}

/**
 * The process-wide collector. Endpoints report their sockets and sessions as they open and
 * close; a snapshot sums what is live and what was folded in when it closed, so closed
 * sessions' counts stay (kcp-go's counters are global atomics and never go back).
 */
export class KcptunSnmp {
  readonly #endpoints = new Set<SnmpEndpointCounters>();
  readonly #sessions = new Map<KcpSession, LiveSession>();
  /** Closed sessions' and sockets' counts. */
  readonly #closed = zeroSnmp();
  #maxConn = 0;
  #activeOpens = 0;
  #passiveOpens = 0;

  /** A socket opened (its counters are read live until endpointClosed). */
  endpointOpened(e: SnmpEndpointCounters): void {
    this.#endpoints.add(e);
  }

  /** A socket closed: its counters are final; fold them in (once). */
  endpointClosed(e: SnmpEndpointCounters): void {
    if (this.#endpoints.delete(e)) addEndpoint(this.#closed, e);
  }

  /** kcp-go's newUDPSession: `active` for a client's dial, else an accepted session. */
  sessionOpened(session: KcpSession, fec: FecDecoder | null, active: boolean): void {
    if (this.#sessions.has(session)) return;
    this.#sessions.set(session, { session, fec });
    if (active) this.#activeOpens++;
    else this.#passiveOpens++;
    this.#maxConn = Math.max(this.#maxConn, this.#sessions.size);
  }

  /** The session ended (kcp-go's Close: CurrEstab goes down); its counts are folded in. */
  sessionClosed(session: KcpSession): void {
    const live = this.#sessions.get(session);
    if (live === undefined) return;
    this.#sessions.delete(session);
    addSession(this.#closed, live.session, live.fec);
  }

  /** Sessions open now (CurrEstab). */
  get established(): number {
    return this.#sessions.size;
  }

  snapshot(): SnmpCounters {
    const c: SnmpCounters = { ...this.#closed };
    for (const e of this.#endpoints) addEndpoint(c, e);
    for (const l of this.#sessions.values()) addSession(c, l.session, l.fec);
    c.MaxConn = this.#maxConn;
    c.ActiveOpens = this.#activeOpens;
    c.PassiveOpens = this.#passiveOpens;
    c.CurrEstab = this.#sessions.size;
    return c;
  }
}

/** kcp-go's DefaultSnmp: every KcptunEndpoint of the process reports here. */
export const kcptunSnmp = new KcptunSnmp();
