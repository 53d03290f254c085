import { formatHostPort } from '../fd/address.js';
import type { Logger } from '../fd/logger.js';
import type { Registry } from '../fd/registry.js';
import { describePeer, type StreamFD } from '../fd/stream-fd.js';
import type { Socks5Auth } from '../protocols/socks5/auth.js';
import { type Socks5CommandName, Socks5Reply } from '../protocols/socks5/constants.js';
import type { Socks5Request } from '../protocols/socks5/messages.js';
import { replyCodeForError } from '../protocols/socks5/reply-code.js';
import { type Socks5Accepted, socks5Handshake } from '../protocols/socks5/server-handshake.js';
import { Socks5UdpRelay, type Socks5UdpRelayOptions } from '../protocols/socks5/udp-relay.js';
import { type Admission, type ClientHandshake, TAKEN } from '../proxy/admission.js';

/**
 * The SOCKS5 front end every socks5 listener of the project shares (the
 * daemon's socks5-server, the WebSocks server's socks5 stage, the WebSocks
 * agent): the handshake, the CONNECT admission and its replies, and UDP
 * ASSOCIATE with bounded, idle-expiring relays. What differs — which targets
 * a client may reach, where a relay binds, where its datagrams go — comes in
 * as callbacks.
 */

/** The admission of a CONNECT: the target, and the reply once the engine knows how it went. */
export function connectAdmission(accepted: Socks5Accepted): Admission {
  const { request } = accepted;
  return {
    requested: { scheme: 'tcp', host: request.host, port: request.port, path: '', options: {} },
    hint: formatHostPort(request.host, request.port),
    // BND: the proxy's local end towards the target (0.0.0.0:0 on transports without one).
    connected: (backend) =>
      accepted.reply(Socks5Reply.SUCCEEDED, {
        host: backend.localAddress ?? '0.0.0.0',
        port: backend.localPort ?? 0,
      }),
    failed: (reason, err) =>
      accepted.reply(
        reason === 'no-backend' ? Socks5Reply.HOST_UNREACHABLE : replyCodeForError(err),
      ),
  };
}

/** How one association's relay is made: where it binds and what its datagrams may do. */
export interface RelaySettings extends Pick<Socks5UdpRelayOptions, 'allowTarget' | 'divert'> {
  /** The host the relay socket binds (its address goes in the reply). */
  readonly host: string;
  /** Told of the relay once it exists (a tunnel sends answers back through it). */
  readonly attached?: (relay: Socks5UdpRelay) => void;
}

/** A listener's UDP association limits unless told otherwise. */
export const UDP_ASSOCIATION_DEFAULTS = { max: 256, idleTimeoutMs: 60_000 } as const;

export interface UdpAssociationsOptions {
  readonly registry: Registry;
  /** Associations alive at once (default 256); more are refused (NOT_ALLOWED) and counted. */
  readonly max?: number;
  /** An association with no datagram either way for this long is closed (default 60 s). */
  readonly idleTimeoutMs?: number;
}

/** The UDP associations of one listener: each a relay socket tied to its control connection. */
export class UdpAssociations {
  readonly relays = new Set<Socks5UdpRelay>();
  /** Requests refused because `max` associations were alive. */
  refused = 0;
  /**
   * Changeable while the listener runs: a lower max refuses new associations
   * until enough close (live ones are never cut); a new idle timeout applies
   * to associations made from then on (each samples its own).
   */
  max: number;
  idleTimeoutMs: number;
  readonly #registry: Registry;

  constructor(options: UdpAssociationsOptions) {
    this.#registry = options.registry;
    this.max = options.max ?? UDP_ASSOCIATION_DEFAULTS.max;
    this.idleTimeoutMs = options.idleTimeoutMs ?? UDP_ASSOCIATION_DEFAULTS.idleTimeoutMs;
  }

  get size(): number {
    return this.relays.size;
  }

  /** Room for one more? If not, the refusal is counted and logged, and the client answered. */
  admit(accepted: Socks5Accepted, log: Logger): boolean {
    const max = this.max;
    if (this.relays.size < max) return true;
    this.refused++;
    log.warn('udp-associate-refused', {
      client: describePeer(accepted.client),
      reason: `${max} associations alive`,
    });
    accepted.reply(Socks5Reply.NOT_ALLOWED);
    return false;
  }

  /** Bind the relay, tie it to the control connection, expire it when idle, answer the client. */
  async associate(accepted: Socks5Accepted, settings: RelaySettings): Promise<void> {
    const socket = await this.#registry.bindDatagram({
      scheme: 'udp',
      host: settings.host,
      port: 0,
      path: '',
      options: {},
    });
    const relay = new Socks5UdpRelay({
      socket,
      control: accepted.client,
      clientHint: { host: accepted.request.host, port: accepted.request.port },
      ...(settings.allowTarget === undefined ? {} : { allowTarget: settings.allowTarget }),
      ...(settings.divert === undefined ? {} : { divert: settings.divert }),
    });
    this.relays.add(relay);
    settings.attached?.(relay);
    // Idle expiry on the relay's own counters, sampled once per timeout: a client that
    // keeps its control connection open but sends nothing holds the socket for one to
    // two timeouts. No timer or clock read per datagram.
    let last = -1;
    const timer = setInterval(() => {
      const s = relay.stats;
      const now = s.forwarded + s.returned + s.dropped;
      if (now === last) void relay.close();
      last = now;
    }, this.idleTimeoutMs);
    timer.unref();
    relay.once('close', () => {
      clearInterval(timer);
      this.relays.delete(relay);
    });
    accepted.reply(Socks5Reply.SUCCEEDED, socket.address());
  }

  async close(): Promise<void> {
    await Promise.all([...this.relays].map((r) => r.close()));
  }
}

export interface Socks5FrontOptions {
  /** Read for every handshake (a running server's users may change). */
  readonly auth: () => Socks5Auth;
  /** Whether UDP ASSOCIATE is served, read for every handshake. */
  readonly udp: () => boolean;
  readonly associations: UdpAssociations;
  /** Where an association's relay binds and what its datagrams may do. */
  readonly relay: (client: StreamFD, request: Socks5Request) => RelaySettings;
  /**
   * Why this request may not go ahead (logged as `client-denied`, answered
   * NOT_ALLOWED); null lets it through.
   */
  readonly deny?: (client: StreamFD, request: Socks5Request) => string | null;
  /** Bytes the listener's own layer still owes the client, sent with the first answer. */
  readonly prefix?: (client: StreamFD) => Buffer | null;
  readonly handshakeTimeoutMs?: number;
  /** The engine's logger, once it exists (the handshake is built before it). */
  readonly log: () => Logger;
}

const CONNECT_ONLY: readonly Socks5CommandName[] = ['connect'];
const CONNECT_AND_UDP: readonly Socks5CommandName[] = ['connect', 'udp-associate'];

/** The ClientHandshake of a socks5 listener: CONNECT admissions and UDP associations. */
export function socks5Front(options: Socks5FrontOptions): ClientHandshake {
  return async (client) => {
    const accepted = await socks5Handshake(client, {
      auth: options.auth(),
      ...(options.handshakeTimeoutMs === undefined
        ? {}
        : { handshakeTimeoutMs: options.handshakeTimeoutMs }),
      commands: options.udp() ? CONNECT_AND_UDP : CONNECT_ONLY,
      prefix: options.prefix?.(client) ?? null,
      // Every answer goes through reply(): a pipelining client gets one segment.
      coalesce: true,
    });
    const { request } = accepted;
    const log = options.log();
    const denied = options.deny?.(client, request) ?? null;
    if (denied !== null) {
      if (log.enabled('info')) {
        log.info('client-denied', {
          client: describePeer(client),
          target: formatHostPort(request.host, request.port),
          reason: denied,
        });
      }
      accepted.reply(Socks5Reply.NOT_ALLOWED);
      return null;
    }
    if (request.command === 'udp-associate') {
      if (!options.associations.admit(accepted, log)) return null;
      await options.associations.associate(accepted, options.relay(client, request));
      return TAKEN;
    }
    return connectAdmission(accepted);
  };
}
