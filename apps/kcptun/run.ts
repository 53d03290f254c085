import net from 'node:net';
import type { StreamFD } from '../../src/fd/stream-fd.js';
import { KcptunClient, KcptunServer } from '../../transports/kcptun/index.js';
import type { KcptunCli } from './flags.js';
import { splitHostPort } from './flags.js';

export interface RunningKcptun {
  /** The bound address (TCP for the client, UDP for the server). */
  readonly address: { host: string; port: number };
  close(): Promise<void>;
}

type Log = (line: string) => void;

/**
 * One TCP connection ↔ one smux stream. kcptun closes both directions when either
 * ends (smux has no half-close), and so do we.
 */
function pipe(local: net.Socket, stream: StreamFD, log: Log | null, label: string): void {
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    local.destroy();
    stream.destroy();
    log?.(`stream closed ${label}`);
  };
  local.on('error', close);
  stream.on('error', close);
  local.on('close', close);
  stream.on('close', close);
  local.pipe(stream);
  stream.pipe(local);
}

/** `vproxy kcptun client`: a TCP listener whose every connection is a stream to the server. */
export async function runClient(cli: KcptunCli, log: Log): Promise<RunningKcptun> {
  const remote = splitHostPort(cli.remote, false);
  const local = splitHostPort(cli.listen, true);
  const client = new KcptunClient(remote.host, remote.port, cli.config);
  const streamLog = cli.quiet ? null : log;
  const server = net.createServer((sock) => {
    sock.on('error', () => {});
    client.openStream().then(
      (stream) => {
        const label = `in: ${sock.remoteAddress}:${sock.remotePort} out: ${cli.remote}(${stream.sid})`;
        streamLog?.(`stream opened ${label}`);
        pipe(sock, stream, streamLog, label);
      },
      (err: unknown) => {
        log(`kcptun dial ${cli.remote}: ${(err as Error).message}`);
        sock.destroy();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(local.port, local.host, () => resolve());
  });
  const a = server.address() as net.AddressInfo;
  log(`listening on: ${a.address}:${a.port}, remote address: ${cli.remote}`);
  return {
    address: { host: a.address, port: a.port },
    close: async () => {
      client.close();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** `vproxy kcptun server`: every stream a client opens is a TCP connection to the target. */
export async function runServer(cli: KcptunCli, log: Log): Promise<RunningKcptun> {
  const listen = splitHostPort(cli.listen, true);
  const target = splitHostPort(cli.remote, false);
  const server = await KcptunServer.listen(listen.host, listen.port, cli.config);
  const streamLog = cli.quiet ? null : log;
  server.on('connection', (fd) => {
    const sock = net.connect(target.port, target.host);
    const label = `in: ${fd.remoteAddress}:${fd.remotePort} out: ${cli.remote}`;
    streamLog?.(`stream opened ${label}`);
    pipe(sock, fd, streamLog, label);
  });
  const a = server.address();
  log(`listening on: ${a.host}:${a.port}, target: ${cli.remote}`);
  return { address: a, close: () => server.abort() };
}

/** The startup summary kcptun prints (main.go), so logs read the same. */
export function describe(cli: KcptunCli): string[] {
  const c = cli.config;
  return [
    `encryption: ${c.crypt}`,
    `mode: ${c.mode}`,
    `sndwnd: ${c.sndwnd} rcvwnd: ${c.rcvwnd}`,
    `compression: ${!c.nocomp}`,
    `mtu: ${c.mtu}`,
    `datashard: ${c.datashard} parityshard: ${c.parityshard}`,
    `acknodelay: ${c.acknodelay}`,
    `smux version: ${c.smuxver} smuxbuf: ${c.smuxbuf} streambuf: ${c.streambuf}`,
    `keepalive: ${c.keepalive}`,
    ...(cli.side === 'client' ? [`conn: ${c.conn} autoexpire: ${c.autoexpire}`] : []),
    ...(cli.snmplog === '' ? [] : [`snmplog: ${cli.snmplog} snmpperiod: ${cli.snmpperiod}`]),
  ];
}
