import type { Address } from '../fd/address.js';
import { formatHostPort } from '../fd/address.js';
import { errorFields, type Logger } from '../fd/logger.js';
import type { Registry } from '../fd/registry.js';
import { describePeer, type StreamFD } from '../fd/stream-fd.js';
import { socks5Front, UdpAssociations } from '../lb/socks5-front.js';
import { HttpError } from '../protocols/http-proxy/errors.js';
import { type ProxyRequest, ProxyRequestReader } from '../protocols/http-proxy/proxy-request.js';
import {
  connectEstablished,
  errorResponse,
  proxyAuthRequired,
} from '../protocols/http-proxy/responses.js';
import {
  credentialChecker,
  type Socks5Auth,
  type Socks5UserTable,
} from '../protocols/socks5/auth.js';
import type { Socks5UdpRelay } from '../protocols/socks5/udp-relay.js';
import type { Admission, ClientHandshake } from '../proxy/admission.js';
import type { PickContext } from '../proxy/backend-picker.js';
import type { AgentUdpTunnels } from './agent-udp.js';

function tcpTarget(host: string, port: number): Address {
  return { scheme: 'tcp', host, port, path: '', options: {} };
}

export interface SocksFrontOptions {
  readonly registry: Registry;
  /** RFC 1929 users; null: no authentication. */
  readonly users: Socks5UserTable | null;
  /**
   * The tunnelled half of a new UDP association (datagrams for targets the
   * rules proxy); absent: every datagram goes from the relay socket, direct.
   */
  readonly udpTunnels?: () => AgentUdpTunnels;
  readonly handshakeTimeoutMs: number;
  readonly logger: Logger;
  /** UDP associations alive at once (default 256). */
  readonly maxAssociations?: number;
  readonly udpIdleTimeoutMs?: number;
}

/**
 * The SOCKS5 front end's handshake (the project's shared socks5 front end):
 * CONNECT, replied to once the path to the target is up (for a tunnel, after
 * the server's SOCKS5 reply), and UDP ASSOCIATE, whose datagrams go direct or
 * through a tunnel of the server list the rules pick, per datagram.
 */
export function socksFront(options: SocksFrontOptions): {
  handshake: ClientHandshake;
  associations: UdpAssociations;
} {
  // One object for the server's life: the handshake caches its checker per object.
  const auth: Socks5Auth = options.users === null ? 'none' : { users: options.users };
  const associations = new UdpAssociations({
    registry: options.registry,
    ...(options.maxAssociations === undefined ? {} : { max: options.maxAssociations }),
    ...(options.udpIdleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.udpIdleTimeoutMs }),
  });
  const handshake = socks5Front({
    auth: () => auth,
    udp: () => true,
    associations,
    handshakeTimeoutMs: options.handshakeTimeoutMs,
    log: () => options.logger,
    relay: (client) => {
      const host = client.localAddress ?? '127.0.0.1';
      const tunnels = options.udpTunnels?.();
      return {
        host: host.startsWith('::ffff:') ? host.slice(7) : host,
        ...(tunnels === undefined
          ? {}
          : {
              divert: (d: Buffer, h: string, p: number) => tunnels.divert(d, h, p),
              attached: (relay: Socks5UdpRelay) => tunnels.attach(relay),
            }),
      };
    },
  });
  return { handshake, associations };
}

/** Read one proxy request head, leaving whatever follows it in the stream. */
function readProxyRequest(
  client: StreamFD,
  signal: AbortSignal,
): Promise<{ request: ProxyRequest } | { error: HttpError } | null> {
  return new Promise((resolve) => {
    const reader = new ProxyRequestReader();
    let done = false;
    const finish = (value: { request: ProxyRequest } | { error: HttpError } | null) => {
      if (done) return;
      done = true;
      client.off('readable', onReadable);
      client.off('end', onEnd);
      client.off('close', onEnd);
      signal.removeEventListener('abort', onEnd);
      resolve(value);
    };
    const onReadable = () => {
      for (;;) {
        if (done) return;
        const chunk: Buffer | null = client.read();
        if (chunk === null) return;
        try {
          const got = reader.push(chunk);
          if (got !== null) {
            if (got.leftover.length > 0) client.unshift(got.leftover);
            finish({ request: got.request });
          }
        } catch (err) {
          if (err instanceof HttpError) finish({ error: err });
          else finish(null);
        }
      }
    };
    const onEnd = () => finish(null);
    client.on('readable', onReadable);
    client.on('end', onEnd);
    client.on('close', onEnd);
    signal.addEventListener('abort', onEnd, { once: true });
    onReadable();
  });
}

export interface HttpFrontOptions {
  /** Proxy-Authorization users (Basic); null: no authentication. */
  readonly users: ReadonlyMap<string, string> | null;
  /** Answers a request addressed to the proxy itself (origin-form), e.g. the PAC file; null → 400. */
  readonly local?: (client: StreamFD, path: string) => Buffer | null;
  readonly logger: Logger;
}

/**
 * The HTTP front end's handshake: `CONNECT host:port` (200 once the path to
 * the target is up, then raw bytes) and absolute-URI requests (`GET
 * http://host/…`), forwarded in origin-form with hop-by-hop headers dropped
 * — the rewritten head is sent to the target first (see `preamble`). A bad
 * head gets its 4xx and a close; nothing past the head is buffered.
 */
export function httpFront(options: HttpFrontOptions): {
  handshake: ClientHandshake;
  preamble: (ctx: PickContext) => Buffer | null;
} {
  const forwardHeads = new WeakMap<Admission, Buffer>();
  // Constant-time comparison, the same as the SOCKS5 front end's.
  const check = options.users === null ? null : credentialChecker({ users: options.users });
  const handshake: ClientHandshake = async (client, signal) => {
    client.on('error', () => {});
    const got = await readProxyRequest(client, signal);
    if (got === null) return null;
    if ('error' in got) {
      options.logger.info('http-request-refused', {
        client: describePeer(client),
        status: got.error.status,
        ...errorFields(got.error),
      });
      client.write(errorResponse(got.error.status));
      return null;
    }
    const { request } = got;
    if (check !== null) {
      const c = request.credentials;
      const user =
        c === null
          ? null
          : await check({
              username: Buffer.from(c.user, 'utf8'),
              password: Buffer.from(c.password, 'utf8'),
            });
      if (user === null) {
        client.write(proxyAuthRequired('vproxy websocks-agent'));
        return null;
      }
    }
    if (request.kind === 'local') {
      const path = request.head.target;
      client.write(options.local?.(client, path) ?? errorResponse(400));
      return null;
    }
    const { target } = request;
    const admission: Admission = {
      requested: tcpTarget(target.host, target.port),
      hint: formatHostPort(target.host, target.port),
      ...(request.kind === 'connect'
        ? { connected: () => client.write(connectEstablished()) }
        : {}),
      failed: (reason) => client.write(errorResponse(reason === 'no-backend' ? 503 : 502)),
    };
    if (request.kind === 'forward') forwardHeads.set(admission, request.forwardHead);
    return admission;
  };
  return { handshake, preamble: (ctx) => forwardHeads.get(ctx.admission) ?? null };
}
