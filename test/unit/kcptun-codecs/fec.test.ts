import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isVproxyError } from '../../../src/fd/errors.js';
import {
  FecDecoder,
  FecEncoder,
  FecError,
  ReedSolomon,
  TYPE_DATA,
  TYPE_PARITY,
} from '../../../transports/fec/index.js';
import { createPacketCrypt, deriveKey } from '../../../transports/kcpgo-crypt/index.js';
import { effectiveCrypt, type KcptunFixture, loadFixtures } from './fixtures.js';

const key = deriveKey('testkey');
const fecFixtures = loadFixtures().filter((f) => f.flags.ds > 0);

/** The FEC packets of one direction of a capture, in the order kcptun sent them. */
function fecPackets(f: KcptunFixture, dir: 'c2s' | 's2c'): Buffer[] {
  const c = createPacketCrypt(effectiveCrypt(f), key);
  return f.datagrams
    .filter((d) => d.dir === dir)
    .map((d) => c.open(d.bytes))
    .filter((p): p is Buffer => p !== null);
}

describe('FEC against captured kcptun datagrams', () => {
  it('has captures with complete groups in both directions', () => {
    expect(fecFixtures.length).toBeGreaterThan(0);
    for (const f of fecFixtures) {
      for (const dir of ['c2s', 's2c'] as const) {
        const parity = fecPackets(f, dir).filter((p) => p.readUInt16LE(4) === TYPE_PARITY);
        expect(parity.length, `${f.name} ${dir}`).toBeGreaterThanOrEqual(f.flags.ps);
      }
    }
  });

  for (const f of fecFixtures) {
    for (const dir of ['c2s', 's2c'] as const) {
      it(`${f.name} ${dir}: our encoder gives kcptun's data and parity packets byte for byte`, () => {
        const packets = fecPackets(f, dir);
        const enc = new FecEncoder(f.flags.ds, f.flags.ps);
        const expected: Buffer[] = [];
        const produced: Buffer[] = [];
        let i = 0;
        while (i < packets.length) {
          const p = packets[i] as Buffer;
          expect(p.readUInt16LE(4), `packet ${i} should be data`).toBe(TYPE_DATA);
          expect(p.readUInt16LE(6)).toBe(p.length - 6);
          expected.push(p);
          produced.push(enc.encode(p.subarray(8)));
          i++;
          // A completed group: kcptun sends its parity right after the last data shard.
          for (const q of enc.parity) {
            if (i >= packets.length) break; // capture ended before the parity went out
            expected.push(packets[i] as Buffer);
            produced.push(q);
            i++;
          }
        }
        expect(produced.length).toBe(packets.length);
        for (let k = 0; k < produced.length; k++) {
          expect(produced[k]?.toString('hex'), `${dir} packet ${k}`).toBe(
            expected[k]?.toString('hex'),
          );
        }
      });

      it(`${f.name} ${dir}: the decoder rebuilds dropped data shards from kcptun's parity`, () => {
        const packets = fecPackets(f, dir);
        const total = f.flags.ds + f.flags.ps;
        const dec = new FecDecoder(f.flags.ds, f.flags.ps);
        const dropped = new Map<number, string>();
        const delivered: string[] = [];
        for (const p of packets) {
          const seqid = p.readUInt32LE(0);
          // Drop as many data shards of every group as there are parity shards.
          if (seqid % total < f.flags.ps) {
            dropped.set(seqid, p.subarray(8).toString('hex'));
            continue;
          }
          for (const k of dec.input(p)) delivered.push(k.toString('hex'));
        }
        // Every dropped shard of a group whose parity was captured comes back.
        const completeGroups = new Set(
          packets
            .filter((p) => p.readUInt32LE(0) % total === total - 1)
            .map((p) => Math.floor(p.readUInt32LE(0) / total)),
        );
        let expectedRecoveries = 0;
        for (const [seqid, kcp] of dropped) {
          if (!completeGroups.has(Math.floor(seqid / total))) continue;
          expectedRecoveries++;
          expect(delivered).toContain(kcp);
        }
        expect(expectedRecoveries).toBeGreaterThan(0);
        expect(dec.stats.recovered).toBe(expectedRecoveries);
        expect(dec.stats.badRecovered).toBe(0);
      });
    }
  }
});

/**
 * Byte equality of two shard lists. toEqual walks typed arrays element by element with its
 * generic matcher: 300 runs of up to 48 × 1,500 bytes took over 30 s on a loaded CI core.
 */
function sameShards(a: readonly (Uint8Array | null)[], b: readonly (Uint8Array | null)[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, i) => {
    const y = b[i];
    if (x === null || y === null || y === undefined) return x === y;
    return Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(y);
  });
}

describe('Reed-Solomon and FEC bounds', () => {
  it('rebuilds any data shards from any dataShards survivors', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 64 }),
        fc.integer(),
        (ds, ps, len, seed) => {
          const rs = new ReedSolomon(ds, ps);
          let x = seed >>> 0;
          const rnd = () => {
            x = (Math.imul(x, 1103515245) + 12345) >>> 0;
            return x >>> 24;
          };
          const data = Array.from({ length: ds }, () => Uint8Array.from({ length: len }, rnd));
          const parity = Array.from({ length: ps }, () => new Uint8Array(len));
          rs.encode(data, parity, len);
          const shards: (Uint8Array | null)[] = [...data, ...parity];
          // Lose `ps` shards chosen by the seed.
          for (let k = 0; k < ps; k++) shards[rnd() % (ds + ps)] = null;
          const rebuilt = rs.reconstructData(shards, len);
          expect(rebuilt).not.toBeNull();
          for (let i = 0; i < ds; i++) expect(shards[i]).toEqual(data[i]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("the WebAssembly SIMD coder gives the scalar loop's bytes (encode and rebuild, any length)", () => {
    expect(new ReedSolomon(10, 3).accelerated).toBe(true);
    expect(new ReedSolomon(10, 3, { simd: false }).accelerated).toBe(false);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 1500 }),
        fc.integer(),
        (ds, ps, len, seed) => {
          const simd = new ReedSolomon(ds, ps);
          const scalar = new ReedSolomon(ds, ps, { simd: false });
          let x = seed >>> 0;
          const rnd = () => {
            x = (Math.imul(x, 1103515245) + 12345) >>> 0;
            return x >>> 24;
          };
          // Some shards longer than len: only the first len bytes count.
          const data = Array.from({ length: ds }, () =>
            Uint8Array.from({ length: len + (rnd() % 3) }, rnd),
          );
          const a = Array.from({ length: ps }, () => new Uint8Array(len).fill(0xaa));
          const b = Array.from({ length: ps }, () => new Uint8Array(len).fill(0x55));
          simd.encode(data, a, len);
          scalar.encode(data, b, len);
          expect(sameShards(a, b)).toBe(true);
          const lost = (shards: (Uint8Array | null)[]) => {
            let y = seed >>> 0;
            for (let k = 0; k < ps; k++) {
              y = (Math.imul(y, 69069) + 1) >>> 0;
              shards[(y >>> 16) % (ds + ps)] = null;
            }
            return shards;
          };
          const sa = lost([...data.map((d) => d.subarray(0, len)), ...a]);
          const sb = lost([...data.map((d) => d.subarray(0, len)), ...b]);
          expect(simd.reconstructData(sa, len)).toEqual(scalar.reconstructData(sb, len));
          expect(sameShards(sa.slice(0, ds), sb.slice(0, ds))).toBe(true);
          const sent = data.map((d) => d.subarray(0, len));
          expect(sameShards(sa.slice(0, ds), sent)).toBe(true);
          // Encoding again after a rebuild (other tables in the coder's memory) still matches.
          for (const p of a) p.fill(0x33);
          simd.encode(data, a, len);
          expect(sameShards(a, b)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
    // CPU work, not waiting: 2.5-5 s alone here, but 35 s and 145 s in two of four runs of
    // the unit files while the machine was loaded (a niced process gets a sliver of a core).
  }, 180_000);

  it('rejects impossible shard counts with a typed error', () => {
    expect(() => new FecEncoder(0, 3)).toThrow(FecError);
    try {
      new FecDecoder(200, 100);
    } catch (err) {
      expect(isVproxyError(err, 'ERR_FEC_CONFIG')).toBe(true);
    }
  });

  it('encodeInto writes the bytes encode() returns; parity leaves the asked headroom', () => {
    const a = new FecEncoder(4, 2);
    const b = new FecEncoder(4, 2, { headroom: 20, tailroom: 16 });
    for (let i = 0; i < 12; i++) {
      const kcp = Buffer.alloc(30 + i * 7, i);
      const want = a.encode(kcp);
      const out = Buffer.alloc(5 + want.length + 3, 0xaa);
      b.encodeInto(kcp, out, 5);
      expect(out.subarray(5, 5 + want.length).equals(want)).toBe(true);
      expect(out[4]).toBe(0xaa);
      expect(out[5 + want.length]).toBe(0xaa);
      expect(b.parity.length).toBe(a.parity.length);
      for (const [j, p] of b.parity.entries()) {
        expect(p.equals(a.parity[j] as Buffer)).toBe(true);
        expect(p.byteOffset).toBeGreaterThanOrEqual(20);
        expect(p.buffer.byteLength - p.byteOffset - p.length).toBeGreaterThanOrEqual(16);
      }
    }
  });

  it('reserve: parity packets are built in the given allocator, framed with head and tail room', () => {
    const a = new FecEncoder(4, 2);
    const slab = Buffer.alloc(64 * 1024);
    let used = 0;
    const reserve = (len: number): Buffer => {
      const out = slab.subarray(used, used + len);
      used += len;
      return out;
    };
    const b = new FecEncoder(4, 2, { headroom: 20, tailroom: 16, reserve });
    for (let i = 0; i < 12; i++) {
      const kcp = Buffer.alloc(30 + i * 7, i);
      a.encode(kcp);
      b.encodeInto(kcp, Buffer.alloc(8 + kcp.length), 0);
      expect(b.parity.length).toBe(a.parity.length);
      expect(b.parityFramed.length).toBe(b.parity.length);
      for (const [j, p] of b.parity.entries()) {
        const framed = b.parityFramed[j] as Buffer;
        // The same bytes as the default allocation, inside the reserved block at offset 20.
        expect(p.equals(a.parity[j] as Buffer)).toBe(true);
        expect(p.buffer).toBe(slab.buffer);
        expect(framed.length).toBe(20 + p.length + 16);
        expect(p.byteOffset - framed.byteOffset).toBe(20);
      }
    }
    // Three groups, two parity packets each, nothing else taken from the allocator.
    expect(used).toBeGreaterThan(0);
    expect(b.parityFramed.length).toBe(2);
  });

  it('keeps at most maxGroups groups open and counts the ones it gave up on', () => {
    const enc = new FecEncoder(4, 2);
    const dec = new FecDecoder(4, 2, { maxGroups: 3 });
    for (let g = 0; g < 10; g++) {
      for (let i = 0; i < 4; i++) {
        const d = enc.encode(Buffer.from(`group ${g} shard ${i}`));
        // Lose two data shards per group…
        if (i >= 2) dec.input(d);
      }
      // …and one of the two parity shards: three of four, short of a rebuild.
      const first = enc.parity[0];
      if (first !== undefined) dec.input(first);
      expect(dec.openGroups).toBeLessThanOrEqual(3);
    }
    expect(dec.stats.lostGroups).toBe(7);
    expect(dec.stats.recovered).toBe(0);
  });

  it('passes raw KCP through and survives garbage without throwing', () => {
    const dec = new FecDecoder(10, 3);
    const raw = Buffer.from('0102030451000000', 'hex');
    expect(dec.input(raw)[0]?.equals(raw)).toBe(true);
    expect(dec.stats.raw).toBe(1);
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 1600 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 0xffffffff }),
        (bytes, forceFec, seqid) => {
          const b = Buffer.from(bytes);
          if (forceFec && b.length >= 8) {
            b.writeUInt32LE(seqid, 0);
            b.writeUInt16LE(b[6] === undefined || b[6] & 1 ? TYPE_DATA : TYPE_PARITY, 4);
          }
          const out = dec.input(b);
          for (const k of out) expect(k.length).toBeLessThanOrEqual(b.length);
          expect(dec.openGroups).toBeLessThanOrEqual(3);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
