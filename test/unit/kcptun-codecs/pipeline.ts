import { FecDecoder } from '../../../transports/fec/index.js';
import {
  CMD_PUSH,
  OFF_CMD,
  OFF_CONV,
  OFF_LEN,
  OFF_SN,
  OVERHEAD,
  readU32,
} from '../../../transports/kcp/arq/wire.js';
import { createPacketCrypt, deriveKey } from '../../../transports/kcpgo-crypt/index.js';
import { effectiveCrypt, type KcptunFixture } from './fixtures.js';

/** The KCP packets of one direction: crypt opened, FEC decoded (parity dropped). */
export function kcpPackets(f: KcptunFixture, dir: 'c2s' | 's2c'): Buffer[] {
  const crypt = createPacketCrypt(effectiveCrypt(f), deriveKey(f.flags.key));
  const fec = f.flags.ds > 0 ? new FecDecoder(f.flags.ds, f.flags.ps) : null;
  const out: Buffer[] = [];
  for (const d of f.datagrams) {
    if (d.dir !== dir) continue;
    const p = crypt.open(d.bytes);
    if (p === null) throw new Error(`${f.name}: a datagram did not open`);
    if (fec === null) out.push(p);
    else for (const k of fec.input(p)) out.push(Buffer.from(k));
  }
  return out;
}

/**
 * The byte stream KCP carried in one direction: PUSH segments by sn (retransmissions
 * dropped), concatenated — kcptun runs KCP in stream mode.
 */
export function kcpStream(f: KcptunFixture, dir: 'c2s' | 's2c'): { conv: number; bytes: Buffer } {
  const bySn = new Map<number, Buffer>();
  let conv = -1;
  for (const p of kcpPackets(f, dir)) {
    let o = 0;
    while (p.length - o >= OVERHEAD) {
      const c = readU32(p, o + OFF_CONV);
      if (conv === -1) conv = c;
      if (c !== conv) throw new Error(`${f.name}: conv changed`);
      const len = readU32(p, o + OFF_LEN);
      if (p[o + OFF_CMD] === CMD_PUSH) {
        bySn.set(readU32(p, o + OFF_SN), p.subarray(o + OVERHEAD, o + OVERHEAD + len));
      }
      o += OVERHEAD + len;
    }
    if (o !== p.length) throw new Error(`${f.name}: trailing bytes in a KCP packet`);
  }
  const parts: Buffer[] = [];
  for (let sn = 0; bySn.has(sn); sn++) parts.push(bySn.get(sn) as Buffer);
  if (parts.length !== bySn.size) throw new Error(`${f.name}: a hole in the KCP stream`);
  return { conv, bytes: Buffer.concat(parts) };
}
