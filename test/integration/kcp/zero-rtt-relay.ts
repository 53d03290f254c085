import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { relayUpstream } from './relay-upstream.js';

/** One datagram as the relay saw it. */
export interface Hop {
  readonly direction: 'to-server' | 'to-client';
  /** ms since the relay's first datagram, when it reached the relay. */
  readonly at: number;
  readonly bytes: number;
  /** Round trips behind it (see DelayRelay). */
  readonly level: number;
  /** RETRY, ECHO, CLOSE, or the KCP segments' commands and sns ('PUSH 0 1, ACK'). */
  readonly what: string;
  /** Mux frames whose header starts in this datagram ('SETTINGS', 'SYN 1', 'DATA 1 ×3'). */
  readonly frames: string[];
  /** The datagram carries `marker` (the test's payload). */
  readonly marked: boolean;
}

const SEGMENT_HEADER = 24;
const CMD_NAMES: Record<number, string> = { 81: 'PUSH', 82: 'ACK', 83: 'WASK', 84: 'WINS' };

/**
 * A UDP forwarder on 127.0.0.1 that delays every datagram by `delayMs` each way (so a round
 * trip costs 2 × delayMs, as on a long link) and records what crossed it, to count the round
 * trips a kcp:// open takes without timing anything: each datagram gets a *level*, the
 * number of round trips that may have caused it.
 * - to the server: the highest level of the datagrams the client had received when it sent
 *   this one (0 before the client heard anything);
 * - to the client: one more than the highest level of the datagrams the server had received
 *   when it sent this one.
 * "Had received" is a superset of "was caused by", so a level is never too low; and a delay
 * much longer than the peers' processing keeps unrelated chatter from raising it.
 * Keyless and unencrypted only (it reads the KCP segments and the mux frames in them).
 */
export class DelayRelay {
  readonly #front: Socket;
  readonly #targetPort: number;
  readonly #delayMs: number;
  readonly #marker: Buffer;
  readonly #upstreams = new Map<string, Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #streams = { 'to-server': new MuxSniffer(), 'to-client': new MuxSniffer() };
  readonly hops: Hop[] = [];
  #t0 = -1;
  #clientHeard = 0;
  #serverHeard = 0;
  port = 0;

  private constructor(targetPort: number, delayMs: number, marker: Buffer) {
    this.#targetPort = targetPort;
    this.#delayMs = delayMs;
    this.#marker = marker;
    this.#front = createSocket('udp4');
    this.#front.on('message', (msg, from) => this.#fromClient(msg, from));
    this.#front.on('error', () => {});
  }

  static async start(targetPort: number, delayMs: number, marker: Buffer): Promise<DelayRelay> {
    const relay = new DelayRelay(targetPort, delayMs, marker);
    relay.#front.bind(0, '127.0.0.1');
    await once(relay.#front, 'listening');
    relay.port = relay.#front.address().port;
    return relay;
  }

  /** The first datagram to the server that carries the marker, if any crossed yet. */
  firstMarked(): Hop | undefined {
    return this.hops.find((h) => h.direction === 'to-server' && h.marked);
  }

  /** One line per datagram, for a failing assertion's message and for measurements. */
  timeline(): string {
    return this.hops
      .map(
        (h) =>
          `${h.at.toFixed(1).padStart(7)} ms  L${h.level} ${h.direction === 'to-server' ? 'c→s' : 's→c'} ${String(h.bytes).padStart(5)} B  ${h.what}${h.frames.length ? ` | ${h.frames.join(', ')}` : ''}${h.marked ? ' | +data' : ''}`,
      )
      .join('\n');
  }

  #record(msg: Buffer, direction: Hop['direction'], level: number): void {
    const now = performance.now();
    if (this.#t0 < 0) this.#t0 = now;
    const { what, payloads } = describe(msg);
    const frames = this.#streams[direction].feed(payloads);
    this.hops.push({
      direction,
      at: now - this.#t0,
      bytes: msg.length,
      level,
      what,
      frames,
      marked: msg.includes(this.#marker),
    });
  }

  #later(fn: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, this.#delayMs);
    this.#timers.add(timer);
  }

  #fromClient(msg: Buffer, from: RemoteInfo): void {
    const level = this.#clientHeard;
    this.#record(msg, 'to-server', level);
    const { socket: target } = relayUpstream(this.#upstreams, from, this.#targetPort, (back) => {
      const backLevel = this.#serverHeard + 1;
      this.#record(back, 'to-client', backLevel);
      this.#later(() => {
        this.#clientHeard = Math.max(this.#clientHeard, backLevel);
        this.#front.send(back, from.port, from.address);
      });
    });
    this.#later(() => {
      this.#serverHeard = Math.max(this.#serverHeard, level);
      try {
        target.send(msg);
      } catch {
        // not connected yet (a delay of 0): dropped, like a lossy link
      }
    });
  }

  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    const all = [this.#front, ...this.#upstreams.values()];
    this.#upstreams.clear();
    await Promise.all(all.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

/** What a plain (keyless, unsealed, no FEC) kcp:// datagram holds. */
function describe(msg: Buffer): { what: string; payloads: [number, Buffer][] } {
  const cmd = msg[4];
  if (msg.length === SEGMENT_HEADER && cmd === 0xfe) return { what: 'RETRY', payloads: [] };
  if (msg.length === SEGMENT_HEADER && cmd === 0xff) return { what: 'CLOSE', payloads: [] };
  let at = 0;
  let what = '';
  if (cmd === 0xfd) {
    at = SEGMENT_HEADER;
    what = 'ECHO + ';
  }
  const parts: string[] = [];
  const payloads: [number, Buffer][] = [];
  while (at + SEGMENT_HEADER <= msg.length) {
    const segCmd = msg[at + 4] as number;
    const sn = msg.readUInt32LE(at + 12);
    const len = msg.readUInt32LE(at + 20);
    const name = CMD_NAMES[segCmd] ?? `cmd${segCmd}`;
    parts.push(segCmd === 81 ? `${name} ${sn}` : name);
    if (segCmd === 81)
      payloads.push([sn, msg.subarray(at + SEGMENT_HEADER, at + SEGMENT_HEADER + len)]);
    at += SEGMENT_HEADER + len;
  }
  return { what: what + compact(parts), payloads };
}

/** 'PUSH 0, PUSH 1, PUSH 2, ACK, ACK' → 'PUSH 0-2, ACK ×2'. */
function compact(parts: string[]): string {
  return compactList(parts).join(', ');
}

function compactList(parts: string[]): string[] {
  const out: string[] = [];
  for (const part of parts) {
    const last = out[out.length - 1];
    const push = /^PUSH (\d+)$/.exec(part);
    const lastRange = last === undefined ? null : /^PUSH (\d+)(?:-(\d+))?$/.exec(last);
    if (push && lastRange && Number(push[1]) === Number(lastRange[2] ?? lastRange[1]) + 1) {
      out[out.length - 1] = `PUSH ${lastRange[1]}-${push[1]}`;
      continue;
    }
    const times = last === undefined ? null : new RegExp(`^${part} ×(\\d+)$`).exec(last);
    if (last === part) out[out.length - 1] = `${part} ×2`;
    else if (times) out[out.length - 1] = `${part} ×${Number(times[1]) + 1}`;
    else out.push(part);
  }
  return out;
}

const FRAME_NAMES: Record<number, string> = {
  0: 'DATA',
  1: 'HEADERS',
  4: 'SETTINGS',
  6: 'PING',
  7: 'GOAWAY',
  8: 'WINDOW_UPDATE',
};

/** Rebuilds one direction's KCP byte stream (stream mode) in sn order and names its mux frames. */
class MuxSniffer {
  readonly #segments = new Map<number, Buffer>();
  #nextSn = 0;
  #buffered = Buffer.alloc(0);
  /** Payload bytes of the current frame still to skip. */
  #skip = 0;

  feed(payloads: [number, Buffer][]): string[] {
    for (const [sn, data] of payloads) {
      if (sn >= this.#nextSn && !this.#segments.has(sn)) this.#segments.set(sn, Buffer.from(data));
    }
    const frames: string[] = [];
    for (let seg = this.#segments.get(this.#nextSn); seg; seg = this.#segments.get(this.#nextSn)) {
      this.#segments.delete(this.#nextSn++);
      this.#buffered = Buffer.concat([this.#buffered, seg]);
      this.#parse(frames);
    }
    return compactList(frames);
  }

  #parse(frames: string[]): void {
    for (;;) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, this.#buffered.length);
        this.#skip -= n;
        this.#buffered = this.#buffered.subarray(n);
        if (this.#skip > 0) return;
      }
      if (this.#buffered.length < 9) return;
      const b = this.#buffered;
      const length = (b[0] as number) * 65536 + b.readUInt16BE(1);
      const type = b[3] as number;
      const flags = b[4] as number;
      const id = b.readUInt32BE(5) & 0x7fff_ffff;
      let name = FRAME_NAMES[type] ?? `type${type}`;
      if (type === 1) name = flags & 1 ? 'RST' : 'SYN';
      if (type === 0 && flags & 1) name = length > 0 ? 'DATA+FIN' : 'FIN';
      frames.push(id === 0 ? name : `${name} ${id}`);
      this.#buffered = b.subarray(9);
      this.#skip = length;
    }
  }
}
