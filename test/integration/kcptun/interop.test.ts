import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  defaultConfig,
  KcptunClient,
  type KcptunConfig,
  KcptunServer,
} from '../../../transports/kcptun/index.js';
import { requireTool, skipNote } from '../../helpers/require-tool.js';
import {
  exchangeClient,
  exchangeTarget,
  freeTcpPort,
  freeUdpPort,
  pattern,
  sha,
  spawnKcptun,
  splice,
  tcpConnect,
} from './harness.js';

/**
 * Interop against Debian's kcptun 20210922: our client ↔ their server and their client ↔
 * our server, sha256-checked both ways over loopback. Each row runs once in each
 * direction; two rows move 20 MB each way, the others 5 MB.
 */
const server = requireTool('kcptun-server');
const client = requireTool('kcptun-client');
const MB = 1024 * 1024;

interface Row {
  crypt: string;
  smuxver: 1 | 2;
  comp: boolean;
  fec: boolean;
  mb: number;
}

const ROWS: Row[] = [
  { crypt: 'aes', smuxver: 1, comp: true, fec: true, mb: 20 },
  { crypt: 'none', smuxver: 2, comp: false, fec: false, mb: 20 },
  { crypt: 'salsa20', smuxver: 2, comp: true, fec: true, mb: 5 },
  { crypt: 'aes-128', smuxver: 1, comp: false, fec: true, mb: 5 },
  { crypt: 'aes-192', smuxver: 2, comp: true, fec: false, mb: 5 },
  { crypt: 'null', smuxver: 1, comp: true, fec: false, mb: 5 },
  { crypt: 'none', smuxver: 1, comp: true, fec: true, mb: 5 },
];

function flags(r: Row): string[] {
  const a = ['--key', 'interop-key', '--crypt', r.crypt, '--smuxver', String(r.smuxver)];
  a.push('--datashard', r.fec ? '10' : '0', '--parityshard', r.fec ? '3' : '0', '--quiet');
  if (!r.comp) a.push('--nocomp');
  return a;
}

function config(side: 'client' | 'server', r: Row): KcptunConfig {
  return {
    ...defaultConfig(side),
    key: 'interop-key',
    crypt: r.crypt,
    smuxver: r.smuxver,
    nocomp: !r.comp,
    datashard: r.fec ? 10 : 0,
    parityshard: r.fec ? 3 : 0,
  };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function name(r: Row): string {
  return `${r.crypt} smux v${r.smuxver} ${r.comp ? 'snappy' : 'nocomp'} ${r.fec ? 'FEC 10/3' : 'FEC 0/0'} ${r.mb} MB each way`;
}

describe.skipIf(server.missing || client.missing)(
  `kcptun interop${skipNote(server)}${skipNote(client)}`,
  () => {
    for (const r of ROWS) {
      it(`our client → kcptun-server: ${name(r)}`, { timeout: 30_000 }, async () => {
        const size = r.mb * MB;
        const target = await exchangeTarget(size);
        cleanups.push(() => void target.server.close());
        const port = await freeUdpPort();
        const peer = spawnKcptun(server.path, [
          '-l',
          `127.0.0.1:${port}`,
          '-t',
          `127.0.0.1:${target.port}`,
          ...flags(r),
        ]);
        cleanups.push(peer.stop);
        const ours = new KcptunClient('127.0.0.1', port, config('client', r));
        cleanups.push(() => ours.close());
        await new Promise((res) => setTimeout(res, 150));
        const stream = await ours.openStream();
        const r2 = await exchangeClient(stream, size, 25_000, () => target.received[0]);
        expect(r2.got).toBe(sha(pattern(size, 2)));
        expect(r2.sent).toBe(sha(pattern(size, 1)));
      });

      it(`kcptun-client → our server: ${name(r)}`, { timeout: 30_000 }, async () => {
        const size = r.mb * MB;
        const target = await exchangeTarget(size);
        cleanups.push(() => void target.server.close());
        const port = await freeUdpPort();
        const ours = await KcptunServer.listen('127.0.0.1', port, config('server', r));
        cleanups.push(() => ours.abort());
        ours.on('connection', (s) => splice(s, net.connect(target.port, '127.0.0.1')));
        const local = await freeTcpPort();
        const peer = spawnKcptun(client.path, [
          '-l',
          `127.0.0.1:${local}`,
          '-r',
          `127.0.0.1:${port}`,
          ...flags(r),
        ]);
        cleanups.push(peer.stop);
        await new Promise((res) => setTimeout(res, 300));
        const sock = await tcpConnect(local);
        const r2 = await exchangeClient(sock, size, 25_000, () => target.received[0]);
        expect(r2.got).toBe(sha(pattern(size, 2)));
        expect(r2.sent).toBe(sha(pattern(size, 1)));
      });
    }
  },
);
