import { connect, type TcpNetConnectOpts } from 'node:net';
import type { NullProto } from '../fd/null-proto.js';
import type { Cancel, Clock } from '../lb/clock.js';

// The node delegate's check of the service it publishes (the reference's
// SmartNodeDelegate TCP-checks nic-address:port every 10 s with a 1 s
// timeout): an instance is in the registry only while it accepts connections,
// so a crashed service behind a live daemon does not stay advertised.

export interface LocalCheckOptions {
  /** Default 10 000 ms. */
  readonly periodMs?: number;
  /** Default 1000 ms. */
  readonly timeoutMs?: number;
}

/** True when host:port accepted a TCP connection within the timeout. */
export type Probe = (host: string, port: number, timeoutMs: number) => Promise<boolean>;

export const tcpProbe: Probe = (host, port, timeoutMs) =>
  new Promise((resolve) => {
    // Without a prototype, as the TCP transport's (see NullProto): in a process
    // whose copy site has seen only plain literals (a mesh node whose only
    // sockets are these probes) each copy got a hidden class of its own from
    // the tenth probe on, and every read of it missed (~25 us more CPU).
    const options: TcpNetConnectOpts & NullProto = {
      __proto__: null,
      host,
      port,
    };
    const socket = connect(options);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });

export interface LocalCheckConfig extends LocalCheckOptions {
  readonly host: string;
  readonly port: number;
  readonly clock: Clock;
  readonly probe?: Probe;
  /** Every result (edge or not: the reference acts on each one). */
  readonly onResult: (ok: boolean) => void;
}

/** Probe now, then `periodMs` after each probe ends, until stopped. */
export class LocalCheck {
  readonly #config: LocalCheckConfig;
  readonly #probe: Probe;
  #timer: Cancel | undefined;
  #stopped = false;

  constructor(config: LocalCheckConfig) {
    this.#config = config;
    this.#probe = config.probe ?? tcpProbe;
    this.#run();
  }

  #run(): void {
    if (this.#stopped) return;
    const { host, port, timeoutMs = 1000, periodMs = 10_000, clock } = this.#config;
    void this.#probe(host, port, timeoutMs)
      .catch(() => false)
      .then((ok) => {
        if (this.#stopped) return;
        this.#config.onResult(ok);
        this.#timer = clock.schedule(periodMs, () => this.#run());
      });
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.();
    this.#timer = undefined;
  }
}
