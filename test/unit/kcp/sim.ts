/**
 * A simulated datagram channel between two KCP control blocks, driven by a fake clock.
 * Everything is deterministic for a given seed: loss, duplication, detectable corruption,
 * reordering (random extra delay) and a base one-way delay, configurable per direction.
 */
import {
  decodeDatagram,
  KcpControlBlock,
  type KcpOptions,
} from '../../../transports/kcp/arq/index.js';

/** mulberry32: small, fast, seedable. Returns a function yielding floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Deterministic pseudo-random bytes. */
export function randomBytes(n: number, seed: number): Uint8Array {
  const r = seededRandom(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 256) | 0;
  return out;
}

export interface LinkConfig {
  /** Base one-way delay, ms. */
  delay: number;
  /** Uniform extra delay in [0, jitter) ms per datagram (reorders when > spacing). */
  jitter: number;
  /** Probability a datagram is lost. */
  loss: number;
  /** Probability a datagram is delivered twice (the copy gets its own delay). */
  duplicate: number;
  /** Probability a datagram is mangled in a way a KCP header check can detect. */
  corrupt: number;
  /** Probability a datagram is held back an extra 5 × (delay + jitter + 1) ms. */
  reorder: number;
  /** Bottleneck rate in bytes per ms (0 = unlimited). 6250 ≈ 50 Mbit/s. */
  rate: number;
  /** Bottleneck queue in bytes; a datagram that does not fit is tail-dropped. */
  queue: number;
}

export const CLEAN: LinkConfig = {
  delay: 5,
  jitter: 0,
  loss: 0,
  duplicate: 0,
  corrupt: 0,
  reorder: 0,
  rate: 0,
  queue: 0,
};

interface InFlight {
  at: number;
  seq: number;
  to: 0 | 1;
  data: Uint8Array;
}

export interface LinkCounters {
  sent: number;
  lost: number;
  duplicated: number;
  corrupted: number;
  delivered: number;
  rejected: number;
  /** Dropped because the bottleneck queue was full. */
  tailDrops: number;
}

/** Two control blocks (a ⇄ b) joined by a simulated network. */
export class SimLink {
  now = 0;
  readonly a: KcpControlBlock;
  readonly b: KcpControlBlock;
  readonly counters: LinkCounters = {
    sent: 0,
    lost: 0,
    duplicated: 0,
    corrupted: 0,
    delivered: 0,
    rejected: 0,
    tailDrops: 0,
  };
  /** Every datagram each side emitted, if recording (wire-format assertions). */
  readonly wire: [Uint8Array[], Uint8Array[]] = [[], []];
  record = false;
  /** Deliver to nobody (e.g. a peer that vanished): datagrams from a side are dropped. */
  blackhole: [boolean, boolean] = [false, false];
  /** Called after each datagram is input, with the receiving side. */
  onInput: ((side: 0 | 1) => void) | null = null;

  private readonly heap: InFlight[] = [];
  private seq = 0;
  private readonly rand: () => number;
  private readonly links: [LinkConfig, LinkConfig];
  /** When each direction's bottleneck finishes sending what it holds. */
  private readonly linkFreeAt: [number, number] = [0, 0];

  constructor(opts: {
    seed: number;
    ab?: Partial<LinkConfig>;
    ba?: Partial<LinkConfig>;
    a?: KcpOptions;
    b?: KcpOptions;
    conv?: number;
  }) {
    this.rand = seededRandom(opts.seed);
    this.links = [
      { ...CLEAN, ...opts.ab },
      { ...CLEAN, ...opts.ba },
    ];
    const conv = opts.conv ?? 0x11223344;
    this.a = new KcpControlBlock(conv, (d, n) => this.emit(0, d, n), opts.a);
    this.b = new KcpControlBlock(conv, (d, n) => this.emit(1, d, n), opts.b);
  }

  /** Ms until the next event (datagram arrival or a block's due time). */
  nextEventDelay(): number {
    let d = Math.min(this.a.delayUntilDue(this.now), this.b.delayUntilDue(this.now));
    const head = this.heap[0];
    if (head !== undefined) d = Math.min(d, Math.max(0, head.at - this.now));
    return d;
  }

  /** Advances to the next event (at least `minStep` ms), delivering and updating. */
  step(minStep = 0): void {
    this.now += Math.max(minStep, this.nextEventDelay());
    this.deliverDue();
    this.a.update(this.now);
    this.b.update(this.now);
  }

  /** Delivers every datagram whose time has come. */
  deliverDue(): void {
    for (let head = this.heap[0]; head !== undefined && head.at <= this.now; head = this.heap[0]) {
      this.pop();
      const dest = head.to === 0 ? this.b : this.a;
      const status = dest.input(head.data, this.now);
      this.counters.delivered++;
      if (status !== 0) this.counters.rejected++;
      this.onInput?.(head.to === 0 ? 1 : 0);
    }
  }

  /** Datagrams still travelling. */
  get pending(): number {
    return this.heap.length;
  }

  /** Injects a datagram as if `from` had sent it (it crosses that side's link). */
  inject(from: 0 | 1, data: Uint8Array, extraDelay = 0): void {
    this.push({ at: this.now + extraDelay, seq: this.seq++, to: from, data });
  }

  private emit(from: 0 | 1, datagram: Uint8Array, length: number): void {
    const copy = datagram.slice(0, length);
    if (this.record) this.wire[from].push(copy);
    this.counters.sent++;
    if (this.blackhole[from]) return;
    const cfg = this.links[from];
    // Random loss first, then the bottleneck (as linkem does: lost packets use no capacity).
    if (this.rand() < cfg.loss) {
      this.counters.lost++;
      return;
    }
    let departs = this.now;
    if (cfg.rate > 0) {
      // A FIFO bottleneck: wait for the queue ahead to drain, tail-drop when it is full.
      const start = Math.max(this.now, this.linkFreeAt[from]);
      if ((start - this.now) * cfg.rate + length > cfg.queue) {
        this.counters.tailDrops++;
        return;
      }
      departs = start + length / cfg.rate;
      this.linkFreeAt[from] = departs;
    }
    this.schedule(from, cfg, copy, departs);
    if (this.rand() < cfg.duplicate) {
      this.counters.duplicated++;
      this.schedule(from, cfg, copy.slice(), departs);
    }
  }

  private schedule(from: 0 | 1, cfg: LinkConfig, data: Uint8Array, departs: number): void {
    let payload = data;
    if (this.rand() < cfg.corrupt) {
      this.counters.corrupted++;
      payload = this.mangle(data);
    }
    let at = departs + cfg.delay + this.rand() * cfg.jitter;
    if (this.rand() < cfg.reorder) at += 5 * (cfg.delay + cfg.jitter + 1);
    this.push({ at: Math.ceil(at), seq: this.seq++, to: from, data: payload });
  }

  /** Damage the header checks catch: truncation, a bad conv or cmd, or trailing junk. */
  private mangle(d: Uint8Array): Uint8Array {
    const kind = Math.floor(this.rand() * 4);
    if (kind === 0 && d.length > 1) return d.slice(0, 1 + Math.floor(this.rand() * (d.length - 1)));
    const out = d.slice();
    if (kind === 1) {
      const i = Math.floor(this.rand() * 4);
      out[i] = (out[i] as number) ^ (1 + Math.floor(this.rand() * 255));
    } else if (kind === 2) out[4] = 85 + Math.floor(this.rand() * 150);
    else {
      const junk = new Uint8Array(out.length + 1 + Math.floor(this.rand() * 23));
      junk.set(out);
      return junk;
    }
    return out;
  }

  private push(item: InFlight): void {
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(item, h[parent] as InFlight)) break;
      h[i] = h[parent] as InFlight;
      i = parent;
    }
    h[i] = item;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && before(h[r] as InFlight, h[l] as InFlight) ? r : l;
      if (!before(h[c] as InFlight, last)) break;
      h[i] = h[c] as InFlight;
      i = c;
    }
    h[i] = last;
  }
}

/** Every segment a side put on the wire (with `record` set), decoded. */
export function wireLog(link: SimLink, side: 0 | 1) {
  return link.wire[side].flatMap((d) => decodeDatagram(d));
}

function before(x: InFlight, y: InFlight): boolean {
  return x.at < y.at || (x.at === y.at && x.seq < y.seq);
}

export interface TransferOptions {
  /** Largest single send() (bytes). */
  chunk?: number;
  /** Give up after this much simulated time (ms). */
  maxTime?: number;
  /** Call flush() right after each input (acks immediately). */
  flushOnInput?: boolean;
  /** Called once per simulation step (e.g. to inject datagrams). */
  onStep?: (link: SimLink) => void;
}

export interface TransferResult {
  received: Uint8Array;
  /** Bytes received (may be < data.length if time ran out). */
  length: number;
  elapsed: number;
  complete: boolean;
}

/** One direction of an exchange: writes what writableBytes allows, reads whatever arrived. */
class Pipe {
  readonly received: Uint8Array;
  got = 0;
  private sent = 0;

  constructor(
    private readonly from: KcpControlBlock,
    private readonly to: KcpControlBlock,
    private readonly data: Uint8Array,
    private readonly chunk: number,
    private readonly scratch: Uint8Array,
  ) {
    this.received = new Uint8Array(data.length);
  }

  get done(): boolean {
    return this.got === this.data.length;
  }

  write(): void {
    while (this.sent < this.data.length && this.from.writableBytes > 0) {
      const n = Math.min(this.chunk, this.from.writableBytes, this.data.length - this.sent);
      this.from.send(this.data.subarray(this.sent, this.sent + n));
      this.sent += n;
    }
  }

  read(): void {
    for (let n = this.to.recv(this.scratch); n > 0; n = this.to.recv(this.scratch)) {
      if (this.got + n > this.data.length) {
        throw new Error(`received ${this.got + n} bytes, only ${this.data.length} sent`);
      }
      this.received.set(this.scratch.subarray(0, n), this.got);
      this.got += n;
    }
  }
}

/**
 * Streams `ab` from a to b and `ba` from b to a at the same time (stream mode), writing only
 * what writableBytes allows and reading whenever datagrams arrive. Throws if a side ever
 * yields more bytes than were sent.
 */
export function exchange(
  link: SimLink,
  ab: Uint8Array,
  ba: Uint8Array,
  opts: TransferOptions = {},
): { ab: TransferResult; ba: TransferResult } {
  const chunk = opts.chunk ?? 64 * 1024;
  const maxTime = opts.maxTime ?? 600_000;
  const scratch = new Uint8Array(256 * 1024);
  const pipes = [
    new Pipe(link.a, link.b, ab, chunk, scratch),
    new Pipe(link.b, link.a, ba, chunk, scratch),
  ] as const;
  const start = link.now;
  link.onInput = (side) => {
    pipes[side === 1 ? 0 : 1].read();
    if (opts.flushOnInput) (side === 1 ? link.b : link.a).flush(link.now);
  };
  try {
    while (!(pipes[0].done && pipes[1].done) && link.now - start < maxTime) {
      pipes[0].write();
      pipes[1].write();
      opts.onStep?.(link);
      link.step();
      pipes[0].read();
      pipes[1].read();
    }
  } finally {
    link.onInput = null;
  }
  const elapsed = link.now - start;
  const result = (p: Pipe): TransferResult => ({
    received: p.received,
    length: p.got,
    elapsed,
    complete: p.done,
  });
  return { ab: result(pipes[0]), ba: result(pipes[1]) };
}

/** Streams `data` from a to b; see exchange(). */
export function transfer(
  link: SimLink,
  data: Uint8Array,
  opts: TransferOptions = {},
): TransferResult {
  return exchange(link, data, new Uint8Array(0), opts).ab;
}

/** The linkem bench's link: 25 ms one-way, 50 Mbit/s, 100 ms drop-tail queue, both ways. */
export function linkemLink(seed: number, loss: number, options: KcpOptions): SimLink {
  const cfg = { loss, delay: 25, rate: 6250, queue: 6250 * 100 };
  return new SimLink({ seed, ab: cfg, ba: cfg, a: options, b: options });
}

/**
 * kcptun's ARQ settings in the bench (`--mode fast3 --sndwnd 1024 --rcvwnd 1024 --crypt none`:
 * mtu 1350 less crypt none's 20-byte header) with kcp-go's early retransmit; the kcp-go
 * estimator and fast-ack count are left to each test.
 */
export const KCPTUN_BENCH: KcpOptions = {
  preset: 'fast3',
  stream: true,
  mtu: 1330,
  sndWnd: 1024,
  rcvWnd: 1024,
  earlyRetransmit: true,
};

/**
 * Two fast3 stream-mode blocks (`options` over mtu 1350) whose datagrams are collected in
 * `out[0]` (a's) and `out[1]` (b's), not delivered: the test moves them.
 */
export function collectingPair(options: KcpOptions, conv = 7) {
  const out: [Uint8Array[], Uint8Array[]] = [[], []];
  const opts: KcpOptions = { preset: 'fast3', stream: true, mtu: 1350, ...options };
  const a = new KcpControlBlock(conv, (d, n) => out[0].push(d.slice(0, n)), opts);
  const b = new KcpControlBlock(conv, (d, n) => out[1].push(d.slice(0, n)), opts);
  return { a, b, out };
}

/** kcp://'s settings with congestion=pacing (mtu 1350, fast3, ack-repeat). */
export const KCP_PACING: KcpOptions = {
  preset: 'fast3',
  stream: true,
  mtu: 1350,
  congestion: 'pacing',
  ackRepeat: true,
};

/** Bytes per ms an application moves at `now`: Infinity = all it can, 0 = none. */
export type AppRate = (now: number) => number;

const ALL: AppRate = () => Number.POSITIVE_INFINITY;

/** A byte budget refilled at an AppRate; unlimited while the rate is infinite. */
class Allowance {
  private budget = 0;
  private at = 0;
  constructor(private readonly rate: AppRate) {}

  /** Bytes allowed now, at most `cap`. */
  take(now: number, cap: number): number {
    const r = this.rate(now);
    if (!Number.isFinite(r)) {
      this.budget = 0; // a slow spell starts with nothing saved up
      this.at = now;
      return cap;
    }
    this.budget = Math.min(cap, this.budget + (now - this.at) * r);
    this.at = now;
    return Math.floor(this.budget);
  }

  spend(n: number): void {
    this.budget -= n;
  }
}

/**
 * Streams `data` from a to b between two applications that write and read at most
 * `writeRate(now)` / `readRate(now)` bytes per ms (writes also wait for writableBytes), and
 * checks every byte. `onStep(got)` runs after each step. Returns the bytes received.
 */
export function throttledTransfer(
  link: SimLink,
  data: Uint8Array,
  rates: { read?: AppRate; write?: AppRate },
  onStep: (got: number) => void,
  maxTime = 60_000,
): number {
  const buf = new Uint8Array(256 * 1024);
  const reader = new Allowance(rates.read ?? ALL);
  const writer = new Allowance(rates.write ?? ALL);
  let sent = 0;
  let got = 0;
  const read = () => {
    for (let room = reader.take(link.now, buf.length); room >= 1; ) {
      const n = link.b.recv(buf.subarray(0, room));
      if (n <= 0) break;
      if (Buffer.compare(buf.subarray(0, n), data.subarray(got, got + n)) !== 0) {
        throw new Error(`bytes ${got}..${got + n} differ from what was sent`);
      }
      got += n;
      reader.spend(n);
      room = reader.take(link.now, buf.length);
    }
  };
  link.onInput = (side) => {
    if (side === 1) read();
  };
  try {
    while (got < data.length && link.now < maxTime) {
      for (;;) {
        const room = Math.min(link.a.writableBytes, data.length - sent, 65_536);
        const n = Math.min(room, writer.take(link.now, room));
        if (n <= 0) break;
        link.a.send(data.subarray(sent, sent + n));
        writer.spend(n);
        sent += n;
      }
      link.step();
      read();
      onStep(got);
    }
  } finally {
    link.onInput = null;
  }
  return got;
}
