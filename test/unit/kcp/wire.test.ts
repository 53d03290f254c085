import { describe, expect, it } from 'vitest';
import { VproxyError } from '../../../src/fd/errors.js';
import {
  CMD_ACK,
  CMD_PUSH,
  CMD_WASK,
  CMD_WINS,
  decodeDatagram,
  encodeSegment,
  InputStatus,
  KcpControlBlock,
  type KcpOptions,
  readHeader,
} from '../../../transports/kcp/arq/index.js';

const CONV = 0x04030201;

/** A block whose output datagrams are collected (copied) into `out`. */
function block(options?: KcpOptions, conv = CONV): { kcp: KcpControlBlock; out: Uint8Array[] } {
  const out: Uint8Array[] = [];
  const kcp = new KcpControlBlock(conv, (d, n) => out.push(d.slice(0, n)), options);
  return { kcp, out };
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Hex of a header written field by field, independently of the code under test. */
function headerHex(f: {
  conv: number;
  cmd: number;
  frg: number;
  wnd: number;
  ts: number;
  sn: number;
  una: number;
  len: number;
}): string {
  const b = Buffer.alloc(24);
  b.writeUInt32LE(f.conv, 0);
  b.writeUInt8(f.cmd, 4);
  b.writeUInt8(f.frg, 5);
  b.writeUInt16LE(f.wnd, 6);
  b.writeUInt32LE(f.ts, 8);
  b.writeUInt32LE(f.sn, 12);
  b.writeUInt32LE(f.una, 16);
  b.writeUInt32LE(f.len, 20);
  return b.toString('hex');
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('segment header', () => {
  it('writes conv, cmd, frg, wnd, ts, sn, una, len in that order, little endian', () => {
    const { kcp, out } = block({ noCwnd: true });
    kcp.send(Uint8Array.of(0xaa, 0xbb, 0xcc));
    kcp.flush(0x0d0c0b0a);
    expect(out).toHaveLength(1);
    // 01020304 | 51 | 00 | 8000 | 0a0b0c0d | 00000000 | 00000000 | 03000000 | aabbcc
    expect(hex(out[0] as Uint8Array)).toBe(
      '01020304' +
        '51' +
        '00' +
        '8000' +
        '0a0b0c0d' +
        '00000000' +
        '00000000' +
        '03000000' +
        'aabbcc',
    );
  });

  it('reads hand-built bytes and echoes ts in the ACK with una = rcv_nxt', () => {
    const { kcp, out } = block();
    // PUSH sn 0, ts 0x11223344, wnd 77, payload "hi", written byte by byte.
    const push = Buffer.from(
      `01020304 51 00 4d00 44332211 00000000 00000000 02000000 6869`.replace(/ /g, ''),
      'hex',
    );
    expect(kcp.input(push, 1000)).toBe(InputStatus.Ok);
    expect(kcp.rmtWnd).toBe(77);
    const buf = new Uint8Array(16);
    expect(kcp.recv(buf)).toBe(2);
    expect(Buffer.from(buf.subarray(0, 2)).toString()).toBe('hi');
    kcp.flush(1000);
    expect(out).toHaveLength(1);
    expect(hex(out[0] as Uint8Array)).toBe(
      headerHex({ conv: CONV, cmd: 82, frg: 0, wnd: 128, ts: 0x11223344, sn: 0, una: 1, len: 0 }),
    );
  });

  it('decodes what it encodes (readHeader agrees with an independent writer)', () => {
    const fields = {
      conv: 0xdeadbeef,
      cmd: CMD_PUSH,
      frg: 7,
      wnd: 0xfedc,
      ts: 0x89abcdef,
      sn: 0xfffffffe,
      una: 0x80000001,
      len: 3,
    };
    const bytes = Buffer.concat([Buffer.from(headerHex(fields), 'hex'), Buffer.from([1, 2, 3])]);
    expect(readHeader(bytes, 0)).toEqual(fields);
    const { len: _len, ...rest } = fields;
    expect(hex(encodeSegment(rest, Uint8Array.of(1, 2, 3)))).toBe(hex(bytes));
  });
});

describe('control segments', () => {
  it('answers a WASK with a WINS carrying the free window', () => {
    const { kcp, out } = block({ rcvWnd: 300 });
    const wask = Buffer.from(
      headerHex({ conv: CONV, cmd: CMD_WASK, frg: 0, wnd: 5, ts: 0, sn: 0, una: 0, len: 0 }),
      'hex',
    );
    expect(kcp.input(wask, 50)).toBe(InputStatus.Ok);
    expect(kcp.stats.inWask).toBe(1);
    kcp.flush(50);
    expect(out.map(hex)).toEqual([
      headerHex({ conv: CONV, cmd: CMD_WINS, frg: 0, wnd: 300, ts: 0, sn: 0, una: 0, len: 0 }),
    ]);
  });

  it('takes the peer window from a WINS', () => {
    const { kcp } = block();
    const wins = encodeSegment({
      conv: CONV,
      cmd: CMD_WINS,
      frg: 0,
      wnd: 4321,
      ts: 0,
      sn: 0,
      una: 0,
    });
    expect(kcp.input(wins)).toBe(InputStatus.Ok);
    expect(kcp.rmtWnd).toBe(4321);
    expect(kcp.stats.inWins).toBe(1);
  });

  it('drops the acknowledged segment on ACK and samples the RTT from the echoed ts', () => {
    const { kcp, out } = block({ noCwnd: true });
    kcp.send(new Uint8Array(10));
    kcp.send(new Uint8Array(10));
    kcp.flush(1000);
    expect(decodeDatagram(out[0] as Uint8Array).map((s) => s.sn)).toEqual([0, 1]);
    expect(kcp.waitSnd).toBe(2);
    // Selective ACK of sn 1 (una still 0): only sn 1 leaves, snd_una stays 0.
    const ack1 = encodeSegment({
      conv: CONV,
      cmd: CMD_ACK,
      frg: 0,
      wnd: 128,
      ts: 1000,
      sn: 1,
      una: 0,
    });
    expect(kcp.input(ack1, 1040)).toBe(InputStatus.Ok);
    expect(kcp.waitSnd).toBe(1);
    expect(kcp.sndUna).toBe(0);
    expect(kcp.srtt).toBe(40);
    // Cumulative una = 2 in any segment clears the rest.
    const wins = encodeSegment({
      conv: CONV,
      cmd: CMD_WINS,
      frg: 0,
      wnd: 128,
      ts: 0,
      sn: 0,
      una: 2,
    });
    expect(kcp.input(wins, 1041)).toBe(InputStatus.Ok);
    expect(kcp.waitSnd).toBe(0);
    expect(kcp.sndUna).toBe(2);
  });
});

describe('datagram packing', () => {
  it('puts ACKs first and packs segments up to mtu, splitting before overflow', () => {
    const { kcp, out } = block({ mtu: 100, noCwnd: true });
    kcp.input(
      encodeSegment({ conv: CONV, cmd: CMD_PUSH, frg: 0, wnd: 128, ts: 9, sn: 0, una: 0 }),
      0,
    );
    for (let i = 0; i < 3; i++) kcp.send(new Uint8Array(20).fill(i + 1));
    kcp.flush(10);
    // ACK (24) + PUSH (44) = 68; another PUSH would make 112 > 100.
    expect(out.map((d) => d.length)).toEqual([68, 88]);
    const segs = out.flatMap((d) => decodeDatagram(d));
    expect(segs.map((s) => [s.cmd, s.sn, s.len])).toEqual([
      [CMD_ACK, 0, 0],
      [CMD_PUSH, 0, 20],
      [CMD_PUSH, 1, 20],
      [CMD_PUSH, 2, 20],
    ]);
    expect(segs.slice(1).map((s) => s.payload[0])).toEqual([1, 2, 3]);
    for (const d of out) expect(d.length).toBeLessThanOrEqual(100);
  });

  it('fills a datagram exactly to mtu', () => {
    const { kcp, out } = block({ mtu: 100, noCwnd: true });
    kcp.send(new Uint8Array(76));
    kcp.send(new Uint8Array(26));
    kcp.send(new Uint8Array(26));
    kcp.flush(0);
    expect(out.map((d) => d.length)).toEqual([100, 100]);
  });
});

describe('fragmentation and stream mode', () => {
  it('counts frg down to 0 across the fragments of one message', () => {
    const { kcp, out } = block({ mtu: 100, noCwnd: true });
    const msg = new Uint8Array(300).map((_, i) => i & 0xff);
    kcp.send(msg);
    kcp.flush(0);
    const segs = out.flatMap((d) => decodeDatagram(d));
    expect(segs.map((s) => [s.sn, s.frg, s.len])).toEqual([
      [0, 3, 76],
      [1, 2, 76],
      [2, 1, 76],
      [3, 0, 72],
    ]);
    expect(Buffer.concat(segs.map((s) => s.payload)).equals(Buffer.from(msg))).toBe(true);
  });

  it('reassembles fragments that arrive out of order, one message per recv', () => {
    const { kcp } = block();
    const frag = (sn: number, frg: number, text: string) =>
      encodeSegment(
        { conv: CONV, cmd: CMD_PUSH, frg, wnd: 128, ts: 0, sn, una: 0 },
        Buffer.from(text),
      );
    kcp.input(frag(2, 0, 'C'));
    kcp.input(frag(0, 2, 'AA'));
    expect(kcp.peekSize()).toBe(-1);
    expect(kcp.recv(new Uint8Array(10))).toBe(-1);
    kcp.input(frag(1, 1, 'BBB'));
    kcp.input(frag(3, 0, 'next'));
    expect(kcp.peekSize()).toBe(6);
    const buf = new Uint8Array(10);
    expect(kcp.recv(buf)).toBe(6);
    expect(Buffer.from(buf.subarray(0, 6)).toString()).toBe('AABBBC');
    expect(kcp.peekSize()).toBe(4);
  });

  it('merges small sends into full segments in stream mode (frg always 0)', () => {
    const { kcp, out } = block({ mtu: 100, stream: true, noCwnd: true });
    const parts = [10, 20, 30, 50].map((n, i) => new Uint8Array(n).fill(i + 1));
    for (const p of parts) kcp.send(p);
    expect(kcp.waitSnd).toBe(2);
    kcp.flush(0);
    const segs = out.flatMap((d) => decodeDatagram(d));
    expect(segs.map((s) => [s.frg, s.len])).toEqual([
      [0, 76],
      [0, 34],
    ]);
    expect(Buffer.concat(segs.map((s) => s.payload)).equals(Buffer.concat(parts))).toBe(true);
  });

  it('reads a stream across segments into any buffer size', () => {
    const { kcp } = block({ stream: true });
    const words = ['alpha', 'beta', 'gamma'];
    words.forEach((w, sn) => {
      kcp.input(
        encodeSegment(
          { conv: CONV, cmd: CMD_PUSH, frg: 9, wnd: 128, ts: 0, sn, una: 0 },
          Buffer.from(w),
        ),
      );
    });
    expect(kcp.peekSize()).toBe(14);
    const small = new Uint8Array(3);
    let text = '';
    for (let n = kcp.recv(small); n > 0; n = kcp.recv(small)) {
      text += Buffer.from(small.subarray(0, n)).toString();
    }
    expect(text).toBe('alphabetagamma');
    expect(kcp.peekSize()).toBe(-1);
  });

  it('refuses a message of more than 127 fragments and a too-small receive buffer', () => {
    const { kcp } = block({ mtu: 100 });
    kcp.send(new Uint8Array(127 * 76));
    const tooBig = thrown(() => kcp.send(new Uint8Array(127 * 76 + 1)));
    expect(tooBig).toBeInstanceOf(VproxyError);
    expect((tooBig as VproxyError).code).toBe('ERR_KCP_MESSAGE_TOO_LARGE');

    const rx = block().kcp;
    rx.input(
      encodeSegment(
        { conv: CONV, cmd: CMD_PUSH, frg: 0, wnd: 1, ts: 0, sn: 0, una: 0 },
        new Uint8Array(50),
      ),
    );
    const small = thrown(() => rx.recv(new Uint8Array(49)));
    expect((small as VproxyError).code).toBe('ERR_KCP_BUFFER_TOO_SMALL');
    expect(rx.recv(new Uint8Array(50))).toBe(50); // nothing was consumed by the failed call
  });

  it('delivers an empty message in message mode and ignores an empty send in stream mode', () => {
    const msg = block({ noCwnd: true });
    msg.kcp.send(new Uint8Array(0));
    msg.kcp.flush(0);
    expect(decodeDatagram(msg.out[0] as Uint8Array).map((s) => s.len)).toEqual([0]);
    const stream = block({ stream: true });
    stream.kcp.send(new Uint8Array(0));
    expect(stream.kcp.waitSnd).toBe(0);
  });
});
