import { describe, expect, it } from 'vitest';
import { FecEncoder, TYPE_DATA } from '../../../transports/fec/index.js';
import { OFF_CMD, OFF_WND, readU16 } from '../../../transports/kcp/arq/wire.js';
import { createPacketCrypt, deriveKey } from '../../../transports/kcpgo-crypt/index.js';
import {
  CMD_PSH,
  CMD_SYN,
  type SmuxFrame,
  SmuxParser,
  type SmuxVersion,
} from '../../../transports/smux/index.js';
import { SnappyFrameDecoder } from '../../../transports/snappy-frame/index.js';
import { effectiveCrypt, loadFixtures } from './fixtures.js';
import { kcpPackets, kcpStream } from './pipeline.js';

/**
 * The whole receive path over real kcptun traffic: crypt → FEC → KCP → snappy →
 * smux, and the whole send path of the packet layers: KCP packets → our FEC encoder →
 * our crypt (with the captured nonces) → the captured datagrams, byte for byte.
 */
describe('decoding captured kcptun traffic end to end', () => {
  for (const f of loadFixtures()) {
    it(`${f.name}: the known payload comes out of stream 3 in both directions`, () => {
      const convs = new Set<number>();
      for (const dir of ['c2s', 's2c'] as const) {
        const { conv, bytes } = kcpStream(f, dir);
        convs.add(conv);
        let smuxBytes = bytes;
        if (!f.flags.nocomp) {
          const parts: Buffer[] = [];
          new SnappyFrameDecoder().push(bytes, (d) => parts.push(Buffer.from(d)));
          smuxBytes = Buffer.concat(parts);
        }
        const frames: SmuxFrame[] = [];
        new SmuxParser({ version: f.flags.smuxver as SmuxVersion }).push(smuxBytes, (x) =>
          frames.push(x),
        );
        if (dir === 'c2s') expect(frames[0]).toEqual({ cmd: CMD_SYN, sid: 3 });
        const data = Buffer.concat(
          frames.flatMap((x) => (x.cmd === CMD_PSH && x.sid === 3 ? [x.data] : [])),
        );
        expect(data.equals(f.payload), dir).toBe(true);
      }
      // One KCP conversation, the same conv both ways.
      expect(convs.size).toBe(1);
    });

    it(`${f.name}: KCP segments carry kcptun's windows (client rcvwnd 512, server 1024)`, () => {
      const first = (dir: 'c2s' | 's2c') => kcpPackets(f, dir)[0] ?? Buffer.alloc(24);
      expect(first('c2s')[OFF_CMD]).toBe(81);
      expect(readU16(first('c2s'), OFF_WND)).toBe(512);
      expect(readU16(first('s2c'), OFF_WND)).toBeLessThanOrEqual(1024);
    });

    it(`${f.name}: our FEC encoder and crypt rebuild every captured datagram`, () => {
      const key = deriveKey(f.flags.key);
      for (const dir of ['c2s', 's2c'] as const) {
        const opener = createPacketCrypt(effectiveCrypt(f), key);
        const sealer = createPacketCrypt(effectiveCrypt(f), key);
        const fec = f.flags.ds > 0 ? new FecEncoder(f.flags.ds, f.flags.ps) : null;
        let queued: Buffer[] = [];
        for (const d of f.datagrams.filter((x) => x.dir === dir)) {
          const inner = opener.open(d.bytes);
          if (inner === null) throw new Error('a datagram did not open');
          let ours: Buffer;
          if (fec === null) ours = inner;
          else if (inner.readUInt16LE(4) === TYPE_DATA) {
            expect(queued).toEqual([]);
            ours = fec.encode(inner.subarray(8));
            queued = [...fec.parity];
          } else {
            ours = queued.shift() ?? Buffer.alloc(0);
          }
          expect(sealer.seal(ours, opener.lastNonce()).toString('hex')).toBe(
            d.bytes.toString('hex'),
          );
        }
      }
    });
  }
});
