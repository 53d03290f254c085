// The data paths bench/kcp.mjs measures, each from a sender in the client namespace to a
// receiver (bench/lib/pump.mjs) listening on RECV_PORT in the server namespace:
//   tcp     sender → receiver directly (the kernel's congestion control of the client ns)
//   vproxy  sender → vproxy simple tcp→tcp → receiver
//   kcptun  sender → kcptun-client (tcp→kcp) ⇢ kcptun-server (kcp→tcp) → receiver
//   ours    sender → vproxy simple tcp→kcp ⇢ vproxy simple kcp→tcp → receiver
//   ours-kcptun  sender → vproxy kcptun client ⇢ vproxy kcptun server → receiver (kcptun's
//           flags, so it is the kcptun row with our binary)
// Proxies on the client side listen on 127.0.0.1; the KCP hop crosses serverIp (the link,
// or loopback when both namespaces are the same).
import { fileURLToPath } from 'node:url';
import { inNs, waitSocket } from './netns.mjs';
import { startChild, stopChild, waitOutput } from './procs.mjs';

export const RECV_PORT = 5201;
const VPROXY_TCP_PORT = 6001;
const OURS_PORT = 6002;
const KCPTUN_PORT = 6003;
const OURS_UDP = 29901;
const KCPTUN_UDP = 29900;

export const VPROXY = fileURLToPath(new URL('../../dist/apps/vproxy.js', import.meta.url));

/** The flags the issue fixes for kcptun: no crypto, no compression, no FEC, fast3, windows 1024. */
export const KCPTUN_FLAGS = [
  '--crypt',
  'none',
  '--nocomp',
  '--datashard',
  '0',
  '--parityshard',
  '0',
  '--mode',
  'fast3',
  '--sndwnd',
  '1024',
  '--rcvwnd',
  '1024',
  '--quiet',
];

/** KCPTUN_FLAGS with FEC data/parity shards `fec` ('10/3'; default '0/0'). */
export function kcptunFlags(fec = '0/0') {
  const [ds, ps] = fec.split('/');
  const flags = [...KCPTUN_FLAGS];
  flags[flags.indexOf('--datashard') + 1] = ds;
  flags[flags.indexOf('--parityshard') + 1] = ps;
  return flags;
}

/** Thrown when our kcp transport is not registered in this build (yet). */
export class NotAvailable extends Error {}

const NO_KCP = /no stream transport "kcp"/;

async function startVproxy(name, ns, bind, backend) {
  const child = startChild(
    name,
    ...inNs(ns, process.execPath, [VPROXY, 'simple', '--bind', bind, '--backend', backend]),
  );
  try {
    await waitOutput(child, /vproxy simple: listening on/);
  } catch (err) {
    await stopChild(child);
    if (NO_KCP.test(child.output)) throw new NotAvailable('kcp transport not registered');
    throw err;
  }
  return child;
}

/**
 * Start the proxies of one path. Returns where the sender connects and the proxy children
 * (for CPU accounting); stop() ends them.
 */
export async function startPath(path, { clientNs, serverNs, serverIp, kcpQuery, fec }) {
  const procs = [];
  const stop = () => Promise.all(procs.map(stopChild));
  try {
    switch (path) {
      case 'tcp':
        return { host: serverIp, port: RECV_PORT, procs, stop };
      case 'vproxy': {
        const bind = `tcp://127.0.0.1:${VPROXY_TCP_PORT}`;
        const backend = `tcp://${serverIp}:${RECV_PORT}`;
        procs.push(await startVproxy('vproxy tcp→tcp', clientNs, bind, backend));
        return { host: '127.0.0.1', port: VPROXY_TCP_PORT, procs, stop };
      }
      case 'kcptun':
      case 'ours-kcptun': {
        const bin = (side) =>
          path === 'kcptun' ? [`kcptun-${side}`, []] : [process.execPath, [VPROXY, 'kcptun', side]];
        const [scmd, sargs] = bin('server');
        const server = startChild(
          `${path}-server`,
          ...inNs(serverNs, scmd, [
            ...sargs,
            ...['-l', `${serverIp}:${KCPTUN_UDP}`, '-t', `127.0.0.1:${RECV_PORT}`],
            ...kcptunFlags(fec),
          ]),
        );
        procs.push(server);
        await waitSocket(server, 'udp', KCPTUN_UDP);
        const [ccmd, cargs] = bin('client');
        const client = startChild(
          `${path}-client`,
          ...inNs(clientNs, ccmd, [
            ...cargs,
            ...['-l', `127.0.0.1:${KCPTUN_PORT}`, '-r', `${serverIp}:${KCPTUN_UDP}`],
            ...kcptunFlags(fec),
          ]),
        );
        procs.push(client);
        await waitSocket(client, 'tcp', KCPTUN_PORT);
        return { host: '127.0.0.1', port: KCPTUN_PORT, procs, stop };
      }
      case 'ours': {
        const kcp = `kcp://${serverIp}:${OURS_UDP}${kcpQuery ? `?${kcpQuery}` : ''}`;
        const backend = `tcp://127.0.0.1:${RECV_PORT}`;
        procs.push(await startVproxy('vproxy kcp→tcp', serverNs, kcp, backend));
        const bind = `tcp://127.0.0.1:${OURS_PORT}`;
        procs.push(await startVproxy('vproxy tcp→kcp', clientNs, bind, kcp));
        return { host: '127.0.0.1', port: OURS_PORT, procs, stop };
      }
      default:
        throw new Error(`unknown path ${path}`);
    }
  } catch (err) {
    await stop();
    throw err;
  }
}
