import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CMD_NOP,
  CMD_SYN,
  CMD_UPD,
  type SmuxError,
  type SmuxFrame,
  SmuxParser,
  SmuxSession,
  type SmuxSessionOptions,
  type SmuxVersion,
} from '../../../transports/smux/index.js';
import { loadFixtures } from './fixtures.js';
import { kcpStream } from './pipeline.js';

/** A session whose events are recorded; `wire` collects its output bytes. */
function recorder(
  options: Partial<SmuxSessionOptions> & { version: SmuxVersion; client: boolean },
) {
  const log = {
    wire: [] as Buffer[],
    accepted: [] as number[],
    data: new Map<number, Buffer[]>(),
    fins: [] as number[],
    writable: [] as number[],
    closed: [] as (SmuxError | null)[],
  };
  const session = new SmuxSession(
    { now: 0, ...options },
    {
      output: (b) => log.wire.push(b),
      accept: (sid) => log.accepted.push(sid),
      data: (sid, d) => log.data.set(sid, [...(log.data.get(sid) ?? []), Buffer.from(d)]),
      fin: (sid) => log.fins.push(sid),
      writable: (sid) => log.writable.push(sid),
      closed: (err) => log.closed.push(err),
    },
  );
  /** Takes the bytes written so far. */
  const drain = (): Buffer => {
    const b = Buffer.concat(log.wire);
    log.wire.length = 0;
    return b;
  };
  const received = (sid: number) => Buffer.concat(log.data.get(sid) ?? []);
  return { session, log, drain, received };
}

function frames(bytes: Buffer, version: SmuxVersion): SmuxFrame[] {
  const out: SmuxFrame[] = [];
  new SmuxParser({ version }).push(bytes, (f) => out.push(f));
  return out;
}

describe('smux session state machine', () => {
  it.each([1, 2] as const)('v%i: client streams are 3, 5, …, server streams 2, 4, …', (version) => {
    const c = recorder({ version, client: true });
    const s = recorder({ version, client: false });
    expect([c.session.openStream(), c.session.openStream()]).toEqual([3, 5]);
    expect(s.session.openStream()).toBe(2);
    expect(frames(c.drain(), version)[0]).toEqual({ cmd: CMD_SYN, sid: 3 });
  });

  it.each([1, 2] as const)('v%i: open, data both ways, half-close', (version) => {
    const c = recorder({ version, client: true });
    const s = recorder({ version, client: false });
    const sid = c.session.openStream();
    c.session.write(sid, Buffer.from('hello'));
    s.session.input(c.drain(), 1);
    expect(s.log.accepted).toEqual([3]);
    expect(s.received(3).toString()).toBe('hello');
    s.session.consumed(3, 5);
    s.session.write(3, Buffer.from('world'));
    s.session.closeStream(3);
    c.session.input(s.drain(), 2);
    expect(c.received(3).toString()).toBe('world');
    expect(c.log.fins).toEqual([3]);
    // Data for a stream closed locally is dropped, as smux does.
    c.session.write(3, Buffer.from('late'));
    s.session.input(c.drain(), 3);
    expect(s.received(3).toString()).toBe('hello');
  });

  it('v2: writes stop at the peer window and resume on its UPD', () => {
    const c = recorder({ version: 2, client: true });
    const s = recorder({ version: 2, client: false, maxStreamBuffer: 1000 });
    const sid = c.session.openStream();
    const big = Buffer.alloc(300_000, 1);
    // smux's initial guess of the peer window is 256 KiB.
    expect(c.session.write(sid, big)).toBe(false);
    s.session.input(c.drain(), 1);
    expect(s.received(sid).length).toBe(262_144);
    // The server's first read is reported at once, with its window.
    s.session.consumed(sid, 100);
    const upd = frames(s.drain(), 2);
    expect(upd).toEqual([{ cmd: CMD_UPD, sid, consumed: 100, window: 1000 }]);
    c.session.input(
      Buffer.from([2, CMD_UPD, 8, 0, sid, 0, 0, 0, ...u32(262_144), ...u32(100_000)]),
      2,
    );
    expect(c.log.writable).toEqual([sid]);
    s.session.input(c.drain(), 3);
    expect(s.received(sid).equals(big)).toBe(true);
  });

  it('v2: UPD after every half window consumed', () => {
    const s = recorder({ version: 2, client: false, maxStreamBuffer: 1000 });
    s.session.input(Buffer.from([2, CMD_SYN, 0, 0, 3, 0, 0, 0]), 0);
    s.session.consumed(3, 10); // first read
    s.session.consumed(3, 400);
    s.session.consumed(3, 100); // 500 since the last report
    expect(frames(s.drain(), 2)).toEqual([
      { cmd: CMD_UPD, sid: 3, consumed: 10, window: 1000 },
      { cmd: CMD_UPD, sid: 3, consumed: 510, window: 1000 },
    ]);
  });

  it('v2: an UPD consuming more than was sent is a flow-control error', () => {
    const c = recorder({ version: 2, client: true });
    const sid = c.session.openStream();
    c.session.write(sid, Buffer.alloc(10));
    c.session.input(Buffer.from([2, CMD_UPD, 8, 0, sid, 0, 0, 0, ...u32(11), ...u32(100)]), 1);
    expect(c.log.closed[0]?.code).toBe('ERR_SMUX_FLOW_CONTROL');
    expect(() => c.session.write(sid, Buffer.alloc(1))).toThrow(/closed/);
  });

  it('keepalive: a NOP every interval, death after a silent timeout period', () => {
    const c = recorder({
      version: 1,
      client: true,
      keepAliveInterval: 10_000,
      keepAliveTimeout: 30_000,
    });
    expect(c.session.nextTimeout()).toBe(10_000);
    c.session.tick(10_000);
    c.session.tick(20_000);
    expect(frames(c.drain(), 1)).toEqual([
      { cmd: CMD_NOP, sid: 0 },
      { cmd: CMD_NOP, sid: 0 },
    ]);
    // The peer's NOP at 25 s counts as life for the check at 30 s…
    c.session.input(Buffer.from([1, CMD_NOP, 0, 0, 0, 0, 0, 0]), 25_000);
    c.session.tick(30_000);
    expect(c.session.isClosed).toBe(false);
    // …but nothing until 60 s is death.
    c.session.tick(60_000);
    expect(c.session.isClosed).toBe(true);
    expect(c.log.closed[0]?.code).toBe('ERR_SMUX_KEEPALIVE_TIMEOUT');
  });

  it('a protocol violation closes the session with the typed error', () => {
    const s = recorder({ version: 1, client: false });
    s.session.input(Buffer.from([2, CMD_SYN, 0, 0, 3, 0, 0, 0]), 0);
    expect(s.log.closed[0]?.code).toBe('ERR_SMUX_VERSION');
    expect(s.log.accepted).toEqual([]);
  });

  it('wantsInput turns false while the application holds maxReceiveBuffer bytes', () => {
    const s = recorder({ version: 1, client: false, maxReceiveBuffer: 100 });
    s.session.input(Buffer.from([1, CMD_SYN, 0, 0, 3, 0, 0, 0]), 0);
    s.session.input(Buffer.concat([Buffer.from([1, 2, 100, 0, 3, 0, 0, 0]), Buffer.alloc(100)]), 0);
    expect(s.session.wantsInput).toBe(false);
    s.session.consumed(3, 60);
    expect(s.session.wantsInput).toBe(true);
  });
});

describe('smux session against captured kcptun streams (--nocomp)', () => {
  for (const f of loadFixtures().filter((x) => x.flags.nocomp)) {
    const version = f.flags.smuxver as SmuxVersion;
    it(`${f.name}: as server it accepts kcptun's stream; as client it reads kcptun's replies`, () => {
      const server = recorder({ version, client: false });
      const up = kcpStream(f, 'c2s').bytes;
      // The SYN first, then echo as kcptun's server did: v2 UPDs in the rest of the
      // capture acknowledge exactly those bytes.
      server.session.input(up.subarray(0, 8), 1);
      expect(server.log.accepted).toEqual([3]);
      expect(server.session.write(3, f.payload)).toBe(true);
      server.session.input(up.subarray(8), 1);
      expect(server.received(3).equals(f.payload)).toBe(true);
      expect(server.log.fins).toEqual([3]);
      expect(server.log.closed).toEqual([]);

      const client = recorder({ version, client: true });
      expect(client.session.openStream()).toBe(3);
      expect(client.session.write(3, f.payload)).toBe(true);
      client.session.input(kcpStream(f, 's2c').bytes, 1);
      expect(client.received(3).equals(f.payload)).toBe(true);
      expect(client.log.fins).toEqual([3]);
      expect(client.log.closed).toEqual([]);
    });
  }

  it('garbage closes the session with a SmuxError or is absorbed, never throws', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 500 }), fc.constantFrom<SmuxVersion>(1, 2), (b, v) => {
        const r = recorder({ version: v, client: false });
        r.session.input(b, 0);
        for (const e of r.log.closed) expect(e?.name).toBe('SmuxError');
      }),
      { numRuns: 1000 },
    );
  });
});

function u32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}
