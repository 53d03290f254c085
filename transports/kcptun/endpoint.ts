import type { Socket } from 'node:dgram';
import type { BoundAddress } from '../../src/fd/server-fd.js';
import { FEC_HEADER_SIZE_PLUS2, FecDecoder, FecEncoder } from '../fec/index.js';
import { CMD_ACK, CMD_PUSH, CMD_WASK, CMD_WINS, OVERHEAD } from '../kcp/arq/wire.js';
import { DatagramSlab } from '../kcp/session/datagram-slab.js';
import { type KcpScheduler, sharedScheduler } from '../kcp/session/scheduler.js';
import {
  KcpSession,
  type SessionConfig,
  type SessionHost,
  SessionState,
} from '../kcp/session/session.js';
import { type DatagramSource, readU32, UdpEndpoint } from '../kcp/session/udp-endpoint.js';
import type { PacketCrypt } from '../kcpgo-crypt/index.js';
import { KcptunError } from './errors.js';
import { kcptunSnmp } from './snmp.js';

export interface KcptunEndpointOptions {
  readonly session: SessionConfig;
  /** The outermost layer; shared by every session of the socket (it keeps no per-peer state). */
  readonly crypt: PacketCrypt;
  /** 0/0: no FEC header at all. */
  readonly dataShards: number;
  readonly parityShards: number;
  /** Listener: most sessions at once. */
  readonly maxSessions: number;
  readonly sockbuf: number;
  /**
   * kcp-go's acknodelay: ACK the datagrams of each poll phase at once (a flush per batch of
   * input). Off (kcptun's default), ACKs leave on the session's interval tick or with data.
   */
  readonly ackNoDelay: boolean;
  readonly scheduler?: KcpScheduler;
}

/** Counters of the datagram path; plain numbers for a stats page. */
export interface KcptunEndpointStats {
  datagramsIn: number;
  datagramsOut: number;
  /** Dropped by the crypt (CRC / tag / too short); the crypt's own stats say which. */
  cryptDropped: number;
  /** Decoded, but not a KCP packet of a session here (garbage, parity of nobody, wrong conv). */
  stray: number;
  /** A new conv with sn 0 from a known address replaced its session (kcp-go's rule). */
  replaced: number;
  /** Session starts turned away (full or closing). */
  refused: number;
  socketErrors: number;
  /** Bytes the crypt accepted, after its header (kcp-go's InBytes); for the SNMP log. */
  bytesIn: number;
  /** UDP payload bytes sent (kcp-go's OutBytes); for the SNMP log. */
  bytesOut: number;
}

/** One peer: its session and the per-session FEC state (kcp-go keeps it per UDPSession). */
interface Peer {
  readonly key: string;
  readonly session: KcpSession;
  readonly fecEnc: FecEncoder | null;
  readonly fecDec: FecDecoder | null;
}

/**
 * kcp-go's datagram path over one UDP socket: raw KCP segments inside FEC inside the
 * packet crypt, no session header (unlike `kcp://`). A listener keys sessions by the
 * client's UDP address, as kcp-go's Listener does: the first KCP data packet from a new
 * address opens a session with its conv, and a packet with another conv and sn 0 from a
 * known address replaces the session there. A client is a connected socket with one
 * session. The control blocks, scheduler and KcpStream are `kcp://`'s, unchanged: this
 * class is their SessionHost.
 */
export class KcptunEndpoint extends UdpEndpoint {
  readonly stats: KcptunEndpointStats = {
    datagramsIn: 0,
    datagramsOut: 0,
    cryptDropped: 0,
    stray: 0,
    replaced: 0,
    refused: 0,
    socketErrors: 0,
    bytesIn: 0,
    bytesOut: 0,
  };
  readonly crypt: PacketCrypt;
  readonly #options: KcptunEndpointOptions;
  readonly #byKey = new Map<string, Peer>();
  readonly #bySession = new Map<KcpSession, Peer>();
  /** A transfer is a run of datagrams from one peer: skip the key string for it. */
  #last: Peer | null = null;
  /** Bound once: the host object KcpSession calls back, without a closure per datagram. */
  readonly #host: SessionHost;
  /** Outgoing datagrams are built in place here: crypt header | FEC header | KCP. */
  readonly #slab = new DatagramSlab();
  /** The decoded packets of a datagram without FEC: itself. */
  readonly #one: Buffer[] = [];
  /** Parity packets of every peer's FEC encoder are built in the slab too. */
  readonly #reserve = (len: number): Buffer => this.#slab.reserve(len);

  private constructor(
    socket: Socket,
    options: KcptunEndpointOptions,
    connected: boolean,
    onAccept: ((session: KcpSession) => void) | null,
  ) {
    super(socket, connected, onAccept, options.scheduler ?? sharedScheduler());
    this.#options = options;
    this.crypt = options.crypt;
    this.#host = {
      scheduler: this.scheduler,
      transmit: (s: KcpSession, buf: Uint8Array, len: number) => this.#transmit(s, buf, len),
      release: (s: KcpSession) => this.#release(s),
    };
    // kcp-go's DefaultSnmp: this socket's and its sessions' counters are summed process-wide.
    kcptunSnmp.endpointOpened(this.stats);
  }

  static async listen(
    host: string,
    port: number,
    options: KcptunEndpointOptions,
    onAccept: (session: KcpSession) => void,
  ): Promise<KcptunEndpoint> {
    const bufs = { rcvbuf: options.sockbuf, sndbuf: options.sockbuf };
    const socket = await UdpEndpoint.bound(host, port, bufs);
    return new KcptunEndpoint(socket, options, false, onAccept);
  }

  static async connect(
    ip: string,
    port: number,
    options: KcptunEndpointOptions,
  ): Promise<KcptunEndpoint> {
    const socket = await UdpEndpoint.connectedTo(ip, port, {
      rcvbuf: options.sockbuf,
      sndbuf: options.sockbuf,
    });
    // A client link never holds the process open by itself (the streams' sockets and the
    // listener in front of it do): a kcptun:// client shared by a registry lingers idle.
    socket.unref();
    return new KcptunEndpoint(socket, options, true, null);
  }

  get sessionCount(): number {
    return this.#byKey.size;
  }

  protected allSessions(): KcpSession[] {
    return [...this.#byKey.values()].map((p) => p.session);
  }

  /** Client: the socket's one session. */
  openSession(peer: BoundAddress, conv: number): KcpSession {
    return this.#addPeer('', peer, conv, undefined).session;
  }

  /** `dec`: the decoder that already saw the session's first shard (undefined: a fresh one). */
  #addPeer(
    key: string,
    addr: BoundAddress,
    conv: number,
    dec: FecDecoder | null | undefined,
  ): Peer {
    const o = this.#options;
    const fec = o.dataShards > 0;
    // KcpSession reads host.transmit at construction (its first flush sends nothing).
    const session = new KcpSession(conv, addr, this.#host, o.session, false);
    const peer: Peer = {
      key,
      session,
      fecEnc: fec
        ? new FecEncoder(o.dataShards, o.parityShards, {
            headroom: this.crypt.headerSize,
            tailroom: this.crypt.tailroom,
            reserve: this.#reserve,
          })
        : null,
      fecDec: dec !== undefined ? dec : fec ? new FecDecoder(o.dataShards, o.parityShards) : null,
    };
    this.#byKey.set(key, peer);
    this.#bySession.set(session, peer);
    kcptunSnmp.sessionOpened(session, peer.fecDec, this.connected);
    return peer;
  }

  #transmit(session: KcpSession, buf: Uint8Array, len: number): void {
    if (this.socketClosed) return;
    const peer = this.#last?.session === session ? this.#last : this.#bySession.get(session);
    if (peer === undefined) return;
    const kcp = buf.subarray(0, len);
    const crypt = this.crypt;
    const head = crypt.headerSize;
    const enc = peer.fecEnc;
    // One copy of the KCP bytes into the datagram; the crypt frames it where it lies.
    if (enc === null) {
      const out = this.#slab.reserve(head + len + crypt.tailroom);
      out.set(kcp, head);
      this.#send(crypt.sealFramed(out, len), session.peer);
      return;
    }
    const shard = FEC_HEADER_SIZE_PLUS2 + len;
    const out = this.#slab.reserve(head + shard + crypt.tailroom);
    enc.encodeInto(kcp, out, head);
    this.#send(crypt.sealFramed(out, shard), session.peer);
    const parity = enc.parity;
    const framed = enc.parityFramed;
    for (let i = 0; i < parity.length; i++) {
      // Each parity packet with head bytes before it and tailroom after it, in the slab.
      const p = parity[i] as Buffer;
      this.#send(crypt.sealFramed(framed[i] as Buffer, p.length), session.peer);
    }
  }

  #send(datagram: Buffer, to: BoundAddress): void {
    this.stats.bytesOut += datagram.length;
    this.sendTo(datagram, to);
  }

  /** The socket's counters are final from here on (no input, sendTo drops). */
  protected override closeSocket(): Promise<void> {
    kcptunSnmp.endpointClosed(this.stats);
    return super.closeSocket();
  }

  #release(session: KcpSession): void {
    kcptunSnmp.sessionClosed(session);
    const peer = this.#bySession.get(session);
    this.#bySession.delete(session);
    if (peer !== undefined && this.#byKey.get(peer.key) === peer) this.#byKey.delete(peer.key);
    if (this.#last === peer) this.#last = null;
    if (this.connected || (this.closing && this.#byKey.size === 0)) void this.closeSocket();
  }

  /** One datagram from `rinfo`; anything that does not decode is counted and dropped. */
  receive(msg: Buffer, rinfo: DatagramSource): void {
    if (this.#options.ackNoDelay) {
      this.#receive(msg, rinfo);
      return;
    }
    const scheduler = this.scheduler;
    scheduler.holdFlush = true;
    try {
      this.#receive(msg, rinfo);
    } finally {
      scheduler.holdFlush = false;
    }
  }

  #receive(msg: Buffer, rinfo: DatagramSource): void {
    this.stats.datagramsIn++;
    const plain = this.crypt.open(msg);
    if (plain === null) {
      this.stats.cryptDropped++;
      return;
    }
    this.stats.bytesIn += plain.length;
    let peer = this.#last;
    if (peer === null || !this.isPeer(peer.session, rinfo)) {
      const key = this.connected ? '' : `${rinfo.address}|${rinfo.port}`;
      peer = this.#byKey.get(key) ?? null;
      if (peer === null) {
        if (!this.connected) this.#accept(plain, rinfo, key);
        else this.stats.stray++;
        return;
      }
      this.#last = peer;
    }
    let packets: readonly Buffer[];
    if (peer.fecDec === null) {
      // One reused array for the packet of a datagram without FEC (no array per datagram).
      this.#one[0] = plain;
      packets = this.#one;
    } else {
      packets = peer.fecDec.input(plain);
    }
    for (let i = 0; i < packets.length; i++) {
      const p = packets[i] as Buffer;
      if (p.length < OVERHEAD) {
        this.stats.stray++;
        continue;
      }
      const session = peer.session;
      if (readU32(p, 0) === session.conv) {
        session.input(p);
        if (this.scheduler.holdFlush) this.#flushIfWorthIt(session);
        continue;
      }
      if (!this.connected && isStart(p)) {
        // kcp-go: another conv with sn 0 from this address is a new session.
        this.stats.replaced++;
        const rest = packets.slice(i);
        const sink = session.sink;
        session.destroy();
        sink?.onFailed(
          new KcptunError(
            'ERR_KCPTUN_REPLACED',
            `session ${session.conv}: replaced by a new conv from ${peer.key}`,
          ),
        );
        this.#accept(plain, rinfo, peer.key, rest);
        return;
      }
      this.stats.stray++;
    }
  }

  /**
   * Held ACKs wait for the tick, as kcp-go's do with acknodelay off, except that the flush
   * comes at once (in the check phase, after this poll phase's datagrams) when:
   * - the input slid our send window (kcp-go flushes in Input then): new data leaves on the
   *   ACK that made room for it instead of up to a tick later;
   * - the held ACKs fill a datagram: nothing is saved by holding more, and a fast sender with
   *   a small window would otherwise wait for the tick (on loopback, kcptun's client window
   *   of 128 segments per 10 ms tick is 0.14 Gbit/s).
   */
  #flushIfWorthIt(session: KcpSession): void {
    const kcp = session.kcp;
    if (!kcp.inputSlid && !kcp.acksFillDatagram) return;
    const scheduler = this.scheduler;
    scheduler.holdFlush = false;
    session.poke();
    scheduler.holdFlush = true;
  }

  /** A new address: its first data packet opens a session (parity alone cannot). */
  #accept(plain: Buffer, rinfo: DatagramSource, key: string, decoded?: readonly Buffer[]): void {
    const onAccept = this.onAccept;
    if (onAccept === null || this.#byKey.size >= this.#options.maxSessions) {
      this.stats.refused++;
      return;
    }
    const o = this.#options;
    // The FEC state of a new session starts fresh, as kcp-go's does.
    let packets = decoded;
    let dec: FecDecoder | null | undefined;
    if (packets === undefined) {
      dec = o.dataShards > 0 ? new FecDecoder(o.dataShards, o.parityShards) : null;
      packets = dec === null ? [plain] : [...dec.input(plain)];
    }
    const first = packets[0];
    if (first === undefined || !isKcpPacket(first)) {
      this.stats.stray++;
      return;
    }
    // The decoder that has seen this shard stays, so its group can still be rebuilt.
    const peer = this.#addPeer(
      key,
      { host: rinfo.address, port: rinfo.port },
      readU32(first, 0),
      dec,
    );
    onAccept(peer.session);
    if (peer.session.state !== SessionState.Open) return;
    this.#last = peer;
    for (const p of packets) {
      if (p.length >= OVERHEAD && readU32(p, 0) === peer.session.conv) peer.session.input(p);
    }
  }
}

function isKcpPacket(p: Uint8Array): boolean {
  if (p.length < OVERHEAD) return false;
  const cmd = p[4];
  return cmd === CMD_PUSH || cmd === CMD_ACK || cmd === CMD_WASK || cmd === CMD_WINS;
}

/** PUSH with sn 0: what kcp-go's listener takes as a new session from a known address. */
function isStart(p: Uint8Array): boolean {
  return p.length >= OVERHEAD && p[4] === CMD_PUSH && readU32(p, 12) === 0;
}
