import { formatHostPort } from '../../../src/fd/address.js';
import type { Registry } from '../../../src/fd/registry.js';
import type { ServerFD } from '../../../src/fd/server-fd.js';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import {
  replyCodeForError,
  type Socks5HandshakeOptions,
  Socks5Reply,
  type Socks5Request,
  Socks5UdpRelay,
  socks5Handshake,
} from '../../../src/protocols/socks5/index.js';
import { closeAfterFlush, pump } from '../../../src/proxy/pump.js';

/**
 * A minimal socks5 server for tests: our handshake on a real listener, then a
 * connect through the registry and a splice with `pump` (the real
 * Socks5Server, with upstreams and security groups, comes later).
 */
export interface Socks5Harness {
  readonly server: ServerFD;
  readonly port: number;
  /** Requests that completed the handshake, in order. */
  readonly requests: Socks5Request[];
  /** Users that authenticated, in order. */
  readonly users: (string | undefined)[];
  /** Why handshakes failed, in order. */
  readonly rejections: Error[];
  readonly relays: Socks5UdpRelay[];
  /** Settles once every accepted client has finished its handshake (either way). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions extends Socks5HandshakeOptions {
  /** Requests to refuse with 0x02 (connection not allowed by ruleset). */
  readonly deny?: (request: Socks5Request) => boolean;
  /** Address for the UDP relay socket (default udp://127.0.0.1:0). */
  readonly udpBind?: string;
}

export async function startSocks5Harness(
  registry: Registry,
  listen: string,
  options: HarnessOptions = {},
): Promise<Socks5Harness> {
  const server = await registry.listen(listen);
  const open = new Set<StreamFD>();
  const pending = new Set<Promise<void>>();
  const requests: Socks5Request[] = [];
  const users: (string | undefined)[] = [];
  const rejections: Error[] = [];
  const relays: Socks5UdpRelay[] = [];

  const track = (fd: StreamFD) => {
    open.add(fd);
    fd.once('close', () => open.delete(fd));
  };

  const serve = async (client: StreamFD): Promise<void> => {
    track(client);
    let accepted: Awaited<ReturnType<typeof socks5Handshake>>;
    try {
      accepted = await socks5Handshake(client, options);
    } catch (err) {
      rejections.push(err as Error);
      return;
    }
    const { request, reply } = accepted;
    requests.push(request);
    users.push(accepted.username);
    if (options.deny?.(request)) {
      reply(Socks5Reply.NOT_ALLOWED);
      return;
    }
    if (request.command === 'udp-associate') {
      const socket = await registry.bindDatagram(options.udpBind ?? 'udp://127.0.0.1:0');
      const relay = new Socks5UdpRelay({
        socket,
        control: client,
        clientHint: { host: request.host, port: request.port },
      });
      relays.push(relay);
      reply(Socks5Reply.SUCCEEDED, relay.address());
      return;
    }
    let backend: StreamFD;
    try {
      backend = await registry.connect(`tcp://${formatHostPort(request.host, request.port)}`, {
        timeoutMs: 5_000,
      });
    } catch (err) {
      reply(replyCodeForError(err));
      return;
    }
    track(backend);
    if (client.destroyed) {
      backend.destroy();
      return;
    }
    reply(Socks5Reply.SUCCEEDED, {
      host: backend.localAddress ?? '0.0.0.0',
      port: backend.localPort ?? 0,
    });
    splice(client, backend);
  };

  server.on('connection', (client) => {
    const p = serve(client);
    pending.add(p);
    void p.finally(() => pending.delete(p));
  });

  return {
    server,
    port: server.address().port,
    requests,
    users,
    rejections,
    relays,
    async settled() {
      while (pending.size > 0) await Promise.all([...pending]);
    },
    async close() {
      await server.close();
      await Promise.all(relays.map((r) => r.close()));
      for (const fd of open) fd.destroy();
    },
  };
}

/** Both directions with backpressure and half-close; either side failing closes both. */
function splice(a: StreamFD, b: StreamFD): void {
  const fail = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', fail);
  b.on('error', fail);
  a.on('close', () => closeAfterFlush(b));
  b.on('close', () => closeAfterFlush(a));
  pump(a, b);
  pump(b, a);
}
