import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSessionStart } from '../../../transports/kcp/session/cookie.js';
import {
  CMD_FEC_DATA,
  CMD_FEC_PARITY,
  FEC_OVERHEAD,
  fecTag,
  SessionFec,
} from '../../../transports/kcp/session/fec.js';
import { fcParams } from '../../helpers/fc.js';

// kcp://'s FEC framing (transports/kcp/session/fec.ts) over transports/fec's Reed-Solomon:
// the datagram layout, recovery of any `parity` losses per group, and a decode path that
// counts and drops garbage without ever throwing.

const CONV = 0x1234abcd;

/** `n` KCP-like datagrams (conv first, then noise) of lengths 24..1337. */
function datagrams(n: number, seed: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const b = randomBytes(24 + ((seed * 7919 + i * 104_729) % 1314));
    b.writeUInt32LE(CONV, 0);
    b[4] = 81;
    out.push(b);
  }
  return out;
}

/** Everything the sender puts on the wire for `packets`, in order, each datagram a copy. */
function encodeAll(fec: SessionFec, packets: readonly Buffer[]): Buffer[] {
  const wire: Buffer[] = [];
  for (const p of packets) {
    const out = Buffer.alloc(FEC_OVERHEAD + p.length);
    fec.encode(p, p.length, out, 0);
    wire.push(out);
    for (const parity of fec.parity) wire.push(Buffer.from(parity));
  }
  return wire;
}

describe('kcp:// FEC datagrams', () => {
  it('have the session header shape: conv, then cmd 0xF1 / 0xF2, then kcp-go’s FEC packet', () => {
    const fec = new SessionFec(CONV, { dataShards: 2, parityShards: 1 });
    const packets = datagrams(2, 1);
    const wire = encodeAll(fec, packets);
    expect(wire).toHaveLength(3);
    const [d0, d1, p0] = wire as [Buffer, Buffer, Buffer];
    for (const d of wire) expect(d.readUInt32LE(0)).toBe(CONV);
    expect([d0[4], d1[4], p0[4]]).toEqual([CMD_FEC_DATA, CMD_FEC_DATA, CMD_FEC_PARITY]);
    // seqid 0, 1, 2; the flag repeats the command, its high byte is the shape tag 16·2 + 1;
    // size = 2 + KCP bytes.
    expect([d0.readUInt32LE(5), d1.readUInt32LE(5), p0.readUInt32LE(5)]).toEqual([0, 1, 2]);
    expect(d0.readUInt16LE(9)).toBe(0xf1 | (33 << 8));
    expect(p0.readUInt16LE(9)).toBe(0xf2 | (33 << 8));
    expect(fecTag({ dataShards: 10, parityShards: 3 })).toBe(163);
    expect(d0.readUInt16LE(11)).toBe(2 + (packets[0] as Buffer).length);
    expect(d0.subarray(13).equals(packets[0] as Buffer)).toBe(true);
    // The parity covers size ‖ KCP of the longer shard.
    const longest = Math.max(...packets.map((p) => p.length));
    expect(p0.length).toBe(FEC_OVERHEAD + longest);
  });

  it('a session start is recognised inside its data shard (the cookie exchange needs it)', () => {
    const fec = new SessionFec(CONV, { dataShards: 10, parityShards: 3 });
    const start = Buffer.alloc(30);
    start.writeUInt32LE(CONV, 0);
    start[4] = 81; // PUSH, sn 0, una 0
    expect(isSessionStart(start)).toBe(true);
    const out = Buffer.alloc(FEC_OVERHEAD + start.length);
    fec.encode(start, start.length, out, 0);
    expect(isSessionStart(out)).toBe(true);
    const later = Buffer.from(start);
    later.writeUInt32LE(1, 12); // sn 1
    const out2 = Buffer.alloc(FEC_OVERHEAD + later.length);
    fec.encode(later, later.length, out2, 0);
    expect(isSessionStart(out2)).toBe(false);
  });

  it('delivers every datagram when each group loses at most `parity` of its datagrams', () => {
    fc.assert(
      fc.property(
        fc.constantFrom([10, 3], [5, 2], [4, 1], [20, 5]),
        fc.integer({ min: 1, max: 1000 }),
        fc.array(fc.nat(), { minLength: 60, maxLength: 60 }),
        ([data, parity], seed, picks) => {
          const total = (data as number) + (parity as number);
          const groups = 4;
          const packets = datagrams(groups * (data as number), seed);
          const tx = new SessionFec(CONV, {
            dataShards: data as number,
            parityShards: parity as number,
          });
          const rx = new SessionFec(CONV, {
            dataShards: data as number,
            parityShards: parity as number,
          });
          const wire = encodeAll(tx, packets);
          expect(wire).toHaveLength(groups * total);
          // Drop up to `parity` datagrams of each group, chosen by `picks`.
          const dropped = new Set<number>();
          for (let g = 0; g < groups; g++) {
            const n = (picks[g] as number) % ((parity as number) + 1);
            for (let k = 0; k < n; k++) {
              dropped.add(g * total + ((picks[4 + g * 8 + k] as number) % total));
            }
          }
          const got: string[] = [];
          for (const [i, d] of wire.entries()) {
            if (dropped.has(i)) continue;
            for (const p of rx.decode(d)) got.push(p.toString('hex'));
          }
          expect(new Set(got)).toEqual(new Set(packets.map((p) => p.toString('hex'))));
          const s = rx.stats;
          expect(s.badPrefix + s.malformed + s.badRecovered + s.lostGroups).toBe(0);
        },
      ),
      fcParams({ numRuns: 60 }),
    );
  });

  it('drops (and counts) datagrams of another data/parity split', () => {
    const tx = new SessionFec(CONV, { dataShards: 5, parityShards: 2 });
    const rx = new SessionFec(CONV, { dataShards: 10, parityShards: 3 });
    let out = 0;
    for (const d of encodeAll(tx, datagrams(10, 2))) out += rx.decode(d).length;
    expect(out).toBe(0);
    expect(rx.stats.otherShape).toBe(14);
  });

  it('counts and drops garbage, never throws, and still decodes real shards afterwards', () => {
    const rx = new SessionFec(CONV, { dataShards: 10, parityShards: 3 });
    const shaped = fc
      .tuple(
        fc.constantFrom(CMD_FEC_DATA, CMD_FEC_PARITY, 0, 81),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.constantFrom(0xf1, 0xf2, 0x51, 0),
        fc.integer({ min: 0, max: 0xffff }),
        fc.uint8Array({ maxLength: 1500 }),
      )
      .map(([cmd, seqid, flag, size, rest]) => {
        const b = Buffer.alloc(FEC_OVERHEAD + rest.length);
        b.writeUInt32LE(CONV, 0);
        b[4] = cmd;
        b.writeUInt32LE(seqid, 5);
        b.writeUInt16LE(flag | (163 << 8), 9);
        b.writeUInt16LE(size, 11);
        b.set(rest, 13);
        return b;
      });
    let fed = 0;
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.uint8Array({ maxLength: 1600 }).map(Buffer.from), shaped), {
          maxLength: 60,
        }),
        (grams) => {
          for (const g of grams) {
            // The endpoint passes only 0xF1 / 0xF2 datagrams of the session: emulate that.
            if (g.length > 4) g[4] = g[4] === CMD_FEC_PARITY ? CMD_FEC_PARITY : CMD_FEC_DATA;
            fed++;
            const out = rx.decode(g);
            for (const p of out) expect(p.length).toBeLessThanOrEqual(g.length);
          }
        },
      ),
      fcParams({ numRuns: 300 }),
    );
    const s = rx.stats;
    expect(fed).toBeGreaterThan(1000);
    expect(
      s.badPrefix + s.otherShape + s.malformed + s.misplaced + s.stale + s.duplicates,
    ).toBeGreaterThan(0);
    // The decoder's window has moved to garbage seqids; a fresh sender's shards are still
    // delivered (data shards go up at once, whatever the group bookkeeping thinks).
    const tx = new SessionFec(CONV, { dataShards: 10, parityShards: 3 });
    const packets = datagrams(10, 3);
    const got = new Set<string>();
    for (const d of encodeAll(tx, packets)) {
      for (const p of rx.decode(d)) got.add(p.toString('hex'));
    }
    for (const p of packets) expect(got.has(p.toString('hex'))).toBe(true);
  });
});
