import { connect, createServer, type Server, type Socket } from 'node:net';
import { brandStreamFD } from '../../../src/fd/stream-fd.js';
import { RequestHeadReader } from '../../../src/protocols/http-proxy/request-head.js';
import { socks5Handshake } from '../../../src/protocols/socks5/server-handshake.js';
import { FramePreamble } from '../../../src/protocols/websocks/frame.js';
import { WebsocksUsers } from '../../../src/protocols/websocks/password-hash.js';
import { checkUpgradeRequest } from '../../../src/protocols/websocks/server-check.js';
import { serverReply } from '../../../src/protocols/websocks/socks-stage.js';
import { buildSwitchingProtocols } from '../../../src/protocols/websocks/upgrade-response.js';

/**
 * A minimal WebSocks server made from the codecs (§3.3–3.6), for testing the
 * agent before and beside the real server app: upgrade check with the
 * time-salted password, the 10-byte frame (PONGs stripped), the SOCKS5
 * stage, then a raw relay. It counts what it did, per target, so tests can
 * prove which path a request took.
 */
export interface MiniServer {
  readonly port: number;
  readonly server: Server;
  /** Upgrades accepted (pooled connections included). */
  upgrades: number;
  /** Upgrades refused (401 etc.). */
  refused: number;
  /** PONGs stripped before frames. */
  pongs: number;
  /** Every accepted upgrade's head (CDN tests read Host, path and extra headers). */
  readonly heads: string[];
  /** SOCKS5 CONNECTs served, by `host:port` as requested. */
  readonly sessions: Map<string, number>;
  total(): number;
  close(): Promise<void>;
}

export async function startMiniServer(
  options: { users?: string; port?: number; host?: string; path?: string } = {},
): Promise<MiniServer> {
  const users = new WebsocksUsers(
    (options.users ?? 'alice:secret').split(',').map((p) => p.split(':') as [string, string]),
  );
  const sockets = new Set<Socket>();
  const state = {
    upgrades: 0,
    refused: 0,
    pongs: 0,
    sessions: new Map<string, number>(),
    heads: [] as string[],
  };
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const reader = new RequestHeadReader();
    let stage: 'head' | 'frame' | 'socks' = 'head';
    const preamble = new FramePreamble({ stripPongs: true });
    const onData = (chunk: Buffer): void => {
      if (stage === 'head') {
        let got: ReturnType<RequestHeadReader['push']>;
        try {
          got = reader.push(chunk);
        } catch {
          socket.destroy();
          return;
        }
        if (got === null) return;
        try {
          const ok = checkUpgradeRequest(got.head, got.leftover.length, {
            users,
            nowMs: Date.now(),
            ...(options.path === undefined ? {} : { path: options.path }),
          });
          state.heads.push(got.head.raw.toString('latin1'));
          state.upgrades++;
          socket.write(buildSwitchingProtocols({ key: ok.key }));
          stage = 'frame';
        } catch (err) {
          state.refused++;
          const status = (err as { status?: number }).status ?? 400;
          socket.end(`HTTP/1.1 ${status} No\r\nContent-Length: 0\r\n\r\n`);
        }
        return;
      }
      if (stage === 'frame') {
        const r = preamble.push(chunk);
        state.pongs = preamble.pongs;
        if (!r.done) return;
        stage = 'socks';
        socket.off('data', onData);
        socket.pause();
        socket.write(r.header);
        if (r.leftover.length > 0) socket.unshift(r.leftover);
        void socksStage(socket);
      }
    };
    socket.on('data', onData);
  });
  const socksStage = async (socket: Socket): Promise<void> => {
    const fd = brandStreamFD(socket, 'tcp');
    let accepted: Awaited<ReturnType<typeof socks5Handshake>>;
    try {
      accepted = await socks5Handshake(fd, { handshakeTimeoutMs: 5_000 });
    } catch {
      return;
    }
    const { host, port } = accepted.request;
    const key = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    state.sessions.set(key, (state.sessions.get(key) ?? 0) + 1);
    const upstream = connect({ host, port, allowHalfOpen: true });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    let connected = false;
    upstream.on('error', () => {
      // §3.6: a target that cannot be reached gets a failure reply (REP 01).
      if (connected) socket.destroy();
      else socket.end(serverReply(1, port));
    });
    upstream.once('connect', () => {
      connected = true;
      socket.write(serverReply(0, port));
      socket.pipe(upstream);
      upstream.pipe(socket);
      socket.resume();
    });
    socket.on('close', () => upstream.destroy());
  };
  await new Promise<void>((resolve) =>
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve),
  );
  const port = (server.address() as { port: number }).port;
  return {
    port,
    server,
    get upgrades() {
      return state.upgrades;
    },
    get refused() {
      return state.refused;
    },
    get pongs() {
      return state.pongs;
    },
    sessions: state.sessions,
    heads: state.heads,
    total: () => [...state.sessions.values()].reduce((a, b) => a + b, 0),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  } as MiniServer;
}
