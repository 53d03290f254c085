import type { RemoteInfo, Socket } from 'node:dgram';
import { once } from 'node:events';
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
import { makeUdpSocket } from '../kcp/session/udp-socket.js';
import type { PacketCrypt } from '../kcpgo-crypt/index.js';
import { KcptunError } from './errors.js';

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
export class KcptunEndpoint {
  readonly stats: KcptunEndpointStats = {
    datagramsIn: 0,
    datagramsOut: 0,
    cryptDropped: 0,
    stray: 0,
    replaced: 0,
    refused: 0,
    socketErrors: 0,
  };
  readonly scheduler: KcpScheduler;
  readonly crypt: PacketCrypt;
  readonly #socket: Socket;
  readonly #options: KcptunEndpointOptions;
  readonly #connected: boolean;
  readonly #byKey = new Map<string, Peer>();
  readonly #bySession = new Map<KcpSession, Peer>();
  /** A transfer is a run of datagrams from one peer: skip the key string for it. */
  #last: Peer | null = null;
  #onAccept: ((session: KcpSession) => void) | null;
  #closing = false;
  #socketClosed: Promise<void> | null = null;
  /** Bound once: the host object KcpSession calls back, without a closure per datagram. */
  readonly #host: SessionHost;
  /** Outgoing datagrams are built in place here: crypt header | FEC header | KCP. */
  readonly #slab = new DatagramSlab();

  private constructor(
    socket: Socket,
    options: KcptunEndpointOptions,
    connected: boolean,
    onAccept: ((session: KcpSession) => void) | null,
  ) {
    this.#socket = socket;
    this.#options = options;
    this.#connected = connected;
    this.#onAccept = onAccept;
    this.crypt = options.crypt;
    this.scheduler = options.scheduler ?? sharedScheduler();
    this.#host = {
      scheduler: this.scheduler,
      transmit: (s: KcpSession, buf: Uint8Array, len: number) => this.#transmit(s, buf, len),
      release: (s: KcpSession) => this.#release(s),
    };
    socket.on('message', (msg, rinfo) => this.receive(msg, rinfo));
    socket.on('error', () => this.stats.socketErrors++);
  }

  static async listen(
    host: string,
    port: number,
    options: KcptunEndpointOptions,
    onAccept: (session: KcpSession) => void,
  ): Promise<KcptunEndpoint> {
    const udp = makeUdpSocket(host, { rcvbuf: options.sockbuf, sndbuf: options.sockbuf });
    udp.socket.bind(port, host);
    await settle(udp.socket, 'listening');
    udp.enableFastLookup();
    return new KcptunEndpoint(udp.socket, options, false, onAccept);
  }

  static async connect(
    ip: string,
    port: number,
    options: KcptunEndpointOptions,
  ): Promise<KcptunEndpoint> {
    const udp = makeUdpSocket(ip, { rcvbuf: options.sockbuf, sndbuf: options.sockbuf });
    udp.socket.connect(port, ip);
    await settle(udp.socket, 'connect');
    udp.enableFastLookup();
    // A client link never holds the process open by itself (the streams' sockets and the
    // listener in front of it do): a kcptun:// client shared by a registry lingers idle.
    udp.socket.unref();
    return new KcptunEndpoint(udp.socket, options, true, null);
  }

  address(): BoundAddress {
    const a = this.#socket.address();
    return { host: a.address, port: a.port };
  }

  get sessionCount(): number {
    return this.#byKey.size;
  }

  /** Client: the socket's one session. */
  openSession(peer: BoundAddress, conv: number): KcpSession {
    return this.#addPeer('', peer, conv, undefined).session;
  }

  /** Stop accepting; the socket closes with the last session. */
  close(): Promise<void> {
    this.#closing = true;
    this.#onAccept = null;
    if (this.#byKey.size === 0) return this.#closeSocket();
    return Promise.resolve();
  }

  /** Close the socket now; every session is dropped. */
  abort(): Promise<void> {
    this.#closing = true;
    this.#onAccept = null;
    for (const p of [...this.#byKey.values()]) p.session.destroy();
    return this.#closeSocket();
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
          })
        : null,
      fecDec: dec !== undefined ? dec : fec ? new FecDecoder(o.dataShards, o.parityShards) : null,
    };
    this.#byKey.set(key, peer);
    this.#bySession.set(session, peer);
    return peer;
  }

  #transmit(session: KcpSession, buf: Uint8Array, len: number): void {
    if (this.#socketClosed !== null) return;
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
    for (const p of enc.parity) {
      // The encoder left head bytes before and tailroom bytes after each parity packet.
      const framed = Buffer.from(p.buffer, p.byteOffset - head, head + p.length + crypt.tailroom);
      this.#send(crypt.sealFramed(framed, p.length), session.peer);
    }
  }

  #send(datagram: Buffer, to: BoundAddress): void {
    this.stats.datagramsOut++;
    if (this.#connected) this.#socket.send(datagram);
    else this.#socket.send(datagram, to.port, to.host);
  }

  #release(session: KcpSession): void {
    const peer = this.#bySession.get(session);
    this.#bySession.delete(session);
    if (peer !== undefined && this.#byKey.get(peer.key) === peer) this.#byKey.delete(peer.key);
    if (this.#last === peer) this.#last = null;
    if (this.#connected || (this.#closing && this.#byKey.size === 0)) void this.#closeSocket();
  }

  #closeSocket(): Promise<void> {
    this.#socketClosed ??= new Promise<void>((resolve) => this.#socket.close(() => resolve()));
    return this.#socketClosed;
  }

  /**
   * One datagram from `rinfo` (the socket's 'message' handler; public so tests can feed
   * the path directly). Anything that does not decode is counted and dropped.
   */
  receive(msg: Buffer, rinfo: Pick<RemoteInfo, 'address' | 'port'>): void {
    this.stats.datagramsIn++;
    const plain = this.crypt.open(msg);
    if (plain === null) {
      this.stats.cryptDropped++;
      return;
    }
    let peer = this.#last;
    if (
      peer === null ||
      !(
        this.#connected ||
        (peer.session.peer.port === rinfo.port && peer.session.peer.host === rinfo.address)
      )
    ) {
      const key = this.#connected ? '' : `${rinfo.address}|${rinfo.port}`;
      peer = this.#byKey.get(key) ?? null;
      if (peer === null) {
        if (!this.#connected) this.#accept(plain, rinfo, key);
        else this.stats.stray++;
        return;
      }
      this.#last = peer;
    }
    const packets = peer.fecDec === null ? [plain] : peer.fecDec.input(plain);
    for (let i = 0; i < packets.length; i++) {
      const p = packets[i] as Buffer;
      if (p.length < OVERHEAD) {
        this.stats.stray++;
        continue;
      }
      const session = peer.session;
      if (readU32(p, 0) === session.conv) {
        session.input(p);
        continue;
      }
      if (!this.#connected && isStart(p)) {
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

  /** A new address: its first data packet opens a session (parity alone cannot). */
  #accept(
    plain: Buffer,
    rinfo: Pick<RemoteInfo, 'address' | 'port'>,
    key: string,
    decoded?: readonly Buffer[],
  ): void {
    const onAccept = this.#onAccept;
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

async function settle(socket: Socket, event: 'listening' | 'connect'): Promise<void> {
  try {
    await once(socket, event);
  } catch (err) {
    socket.close();
    throw err;
  }
}

function readU32(b: Uint8Array, o: number): number {
  return (
    ((b[o] as number) | ((b[o + 1] as number) << 8) | ((b[o + 2] as number) << 16)) +
    (b[o + 3] as number) * 0x1000000
  );
}
