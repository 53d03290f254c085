import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { FecEncoder } from '../../../transports/fec/index.js';
import { CMD_PUSH, OVERHEAD, writeHeader } from '../../../transports/kcp/arq/wire.js';
import { createPacketCrypt, deriveKey } from '../../../transports/kcpgo-crypt/index.js';
import {
  CMD_SYN,
  encodeControl,
  encodePush,
  type SmuxVersion,
} from '../../../transports/smux/index.js';
import { SnappyFrameEncoder } from '../../../transports/snappy-frame/index.js';
import { requireTool, skipNote } from '../../helpers/require-tool.js';

/**
 * The encode direction against the real peer: our smux → snappy → (hand-made KCP
 * segments) → FEC → crypt datagrams go to Debian's kcptun-server, and its target must
 * receive the payload. We never retransmit, and one data shard of the first FEC group
 * is never sent: the server can only have it by rebuilding it from our parity shards.
 * Loopback only. kcptun is found like every external tool: missing in CI fails.
 */
const kcptun = requireTool('kcptun-server');
const SERVER = kcptun.path;
const MSS = 1350 - 20 - 8 - OVERHEAD;

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGTERM');
});

function payload(): Buffer {
  const text = Buffer.from('compressible kcptun interop text. '.repeat(150));
  const rnd = Buffer.alloc(16_000);
  let x = 7;
  for (let i = 0; i < rnd.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    rnd[i] = x >>> 24;
  }
  return Buffer.concat([text, rnd]);
}

/** The datagrams a kcptun client would send for SYN + payload on stream 3, minus one shard. */
function datagrams(opts: Case, data: Buffer): Buffer[] {
  const v = opts.smuxver;
  let stream: Buffer = Buffer.concat([encodeControl(v, CMD_SYN, 3), encodePush(v, 3, data)]);
  if (opts.comp) {
    stream = new SnappyFrameEncoder().encode(stream);
    // A compressed chunk (snappyjs's bytes, not Go's) right after the identifier.
    if (stream[10] !== 0x00) throw new Error('expected a compressed snappy chunk');
  }
  const conv = (Math.random() * 0xffffffff) >>> 0;
  const crypt = createPacketCrypt(opts.crypt, deriveKey('testkey'));
  const fec = opts.fec ? new FecEncoder(10, 3) : null;
  const out: Buffer[] = [];
  for (let sn = 0, at = 0; at < stream.length; sn++, at += MSS) {
    const part = stream.subarray(at, at + MSS);
    const seg = Buffer.alloc(OVERHEAD + part.length);
    writeHeader(seg, 0, conv, CMD_PUSH, 0, 512, 0, sn, 0, part.length);
    part.copy(seg, OVERHEAD);
    if (fec === null) {
      out.push(crypt.seal(seg));
      continue;
    }
    const shard = fec.encode(seg);
    if (sn !== 3) out.push(crypt.seal(shard)); // lost: FEC must bring it back
    for (const p of fec.parity) out.push(crypt.seal(p));
  }
  return out;
}

interface Case {
  crypt: string;
  comp: boolean;
  smuxver: SmuxVersion;
  fec: boolean;
}

const CASES: Case[] = [
  { crypt: 'aes', comp: true, smuxver: 1, fec: true },
  { crypt: 'aes-128', comp: false, smuxver: 2, fec: true },
  { crypt: 'aes-192', comp: true, smuxver: 2, fec: true },
  { crypt: 'salsa20', comp: true, smuxver: 1, fec: true },
  { crypt: 'none', comp: false, smuxver: 1, fec: true },
  { crypt: 'aes', comp: true, smuxver: 2, fec: false },
];

describe.skipIf(kcptun.missing)(
  `our encoders against a live kcptun-server${skipNote(kcptun)}`,
  () => {
    for (const c of CASES) {
      const name = `${c.crypt} ${c.comp ? 'snappy' : 'nocomp'} smux v${c.smuxver} ${c.fec ? 'FEC 10/3, one shard lost' : 'no FEC'}`;
      it(name, async () => {
        const data = payload();
        const got: Buffer[] = [];
        let gotBytes = 0;
        const target = net.createServer((s) =>
          s.on('data', (d) => {
            got.push(d);
            gotBytes += d.length;
          }),
        );
        await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
        const udp = dgram.createSocket('udp4');
        await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
        const probe = dgram.createSocket('udp4');
        await new Promise<void>((r) => probe.bind(0, '127.0.0.1', r));
        const port = probe.address().port;
        probe.close();
        try {
          const args = [
            '-l',
            `127.0.0.1:${port}`,
            '-t',
            `127.0.0.1:${(target.address() as net.AddressInfo).port}`,
          ];
          args.push(
            '--key',
            'testkey',
            '--crypt',
            c.crypt,
            '--smuxver',
            String(c.smuxver),
            '--quiet',
          );
          args.push('--datashard', c.fec ? '10' : '0', '--parityshard', c.fec ? '3' : '0');
          if (!c.comp) args.push('--nocomp');
          const server = spawn(SERVER, args, { stdio: 'ignore' });
          children.push(server);
          await sleep(300);
          const packets = datagrams(c, data);
          // With FEC: more than one group, so the lost shard's group is complete.
          if (c.fec) expect(packets.length).toBeGreaterThan(13);
          for (const p of packets) udp.send(p, port, '127.0.0.1');
          const deadline = Date.now() + 5000;
          while (gotBytes < data.length && Date.now() < deadline) await sleep(20);
          expect(gotBytes).toBe(data.length);
          expect(Buffer.concat(got).equals(data)).toBe(true);
        } finally {
          udp.close();
          target.close();
        }
      });
    }
  },
);
