import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseKcptunArgs, usage } from '../../../apps/kcptun/flags.js';
import { goTimeFormat, snmpLogPath } from '../../../apps/kcptun/go-time-format.js';
import { SnmpLog, startSnmpLog } from '../../../apps/kcptun/snmp-log.js';
import { KcpControlBlock, type KcpOptions } from '../../../transports/kcp/arq/index.js';
import { KcpStats } from '../../../transports/kcp/arq/stats.js';
import type { KcpSession } from '../../../transports/kcp/session/session.js';
import {
  KcptunSnmp,
  SNMP_FIELDS,
  snmpCsvLine,
  snmpHeaderLine,
  zeroSnmp,
} from '../../../transports/kcptun/index.js';

/** What Debian's kcptun-client 20210922 (kcp-go 5.6.1) writes as the first line of its file. */
const DEBIAN_HEADER =
  'Unix,BytesSent,BytesReceived,MaxConn,ActiveOpens,PassiveOpens,CurrEstab,InErrs,' +
  'InCsumErrors,KCPInErrors,InPkts,OutPkts,InSegs,OutSegs,InBytes,OutBytes,RetransSegs,' +
  'FastRetransSegs,EarlyRetransSegs,LostSegs,RepeatSegs,FECParityShards,FECErrs,' +
  'FECRecovered,FECShortShards';

const dirs: string[] = [];
const logs: SnmpLog[] = [];
afterEach(async () => {
  for (const l of logs.splice(0)) await l.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'snmp-unit-'));
  dirs.push(d);
  return d;
}

describe('kcptun SNMP CSV', () => {
  it("has kcp-go 5.6.1's Header() columns, in its order, after Unix", () => {
    expect(snmpHeaderLine()).toBe(`${DEBIAN_HEADER}\n`);
    expect(SNMP_FIELDS).toHaveLength(24);
  });

  it('writes the Unix seconds, then every counter as an integer', () => {
    const c = zeroSnmp();
    c.BytesSent = 42;
    c.FECShortShards = 3;
    c.OutBytes = 2 ** 40;
    const line = snmpCsvLine(1796664586.9, c);
    const cells = line.trimEnd().split(',');
    expect(line.endsWith('\n')).toBe(true);
    expect(cells).toHaveLength(25);
    expect(cells[0]).toBe('1796664586');
    expect(cells[1]).toBe('42');
    expect(cells[15]).toBe('1099511627776');
    expect(cells[24]).toBe('3');
  });
});

describe("Go's time layout (the --snmplog file name)", () => {
  // Local time: the getters of this Date read these fields in any TZ.
  const d = new Date(2026, 11, 7, 15, 4, 5, 120);

  it('formats the usual date and time tokens', () => {
    expect(goTimeFormat('snmp-20060102.log', d)).toBe('snmp-20261207.log');
    expect(goTimeFormat('2006-01-02T15:04:05', d)).toBe('2026-12-07T15:04:05');
    expect(goTimeFormat('06 1 2 3 4 5 03 PM pm', d)).toBe('26 12 7 3 4 5 03 PM pm');
    expect(goTimeFormat('Jan January Mon Monday _2 002 __2', d)).toBe(
      'Dec December Mon Monday  7 341 341',
    );
  });

  it('leaves what is not a token, as Go does', () => {
    // "Janx": Jan followed by a lower-case letter is text; "_2006" is "_" then the year;
    // ".01" is not a fraction (a digit follows the run), so "01" is the month.
    expect(goTimeFormat('Janx_2006.01', d)).toBe('Janx_2026.12');
    expect(goTimeFormat('kcptun.log', d)).toBe('kcptun.log');
  });

  it('formats fractions and zones', () => {
    expect(goTimeFormat('05.000', d)).toBe('05.120');
    expect(goTimeFormat('05,999999', d)).toBe('05,12');
    expect(goTimeFormat('05.9', new Date(2026, 0, 1, 0, 0, 5, 0))).toBe('05');
    const off = -d.getTimezoneOffset();
    const hh = String(Math.floor(Math.abs(off) / 60)).padStart(2, '0');
    const mm = String(Math.abs(off) % 60).padStart(2, '0');
    const sign = off < 0 ? '-' : '+';
    expect(goTimeFormat('-0700', d)).toBe(`${sign}${hh}${mm}`);
    expect(goTimeFormat('-07:00', d)).toBe(`${sign}${hh}:${mm}`);
    expect(goTimeFormat('Z07:00', d)).toBe(off === 0 ? 'Z' : `${sign}${hh}:${mm}`);
  });

  it('formats only the file part of the path (filepath.Split)', () => {
    expect(snmpLogPath('./snmp-20060102.log', d)).toBe('./snmp-20261207.log');
    expect(snmpLogPath('/var/2006/s-150405.log', d)).toBe('/var/2006/s-150405.log');
    const later = new Date(2027, 0, 2, 3, 4, 5);
    expect(snmpLogPath('/var/2006/s-20060102-150405.log', later)).toBe(
      '/var/2006/s-20270102-030405.log',
    );
    expect(snmpLogPath('snmp-01.csv', later)).toBe('snmp-01.csv');
  });
});

/** A stand-in for a session: what the collector reads (its block's stats and its stream). */
function fakeSession(): {
  session: KcpSession;
  stats: KcpStats;
  io: { bytesRead: number; bytesWritten: number };
} {
  const stats = new KcpStats();
  const io = { bytesRead: 0, bytesWritten: 0 };
  return { session: { kcp: { stats }, sink: io } as unknown as KcpSession, stats, io };
}

function fakeEndpoint() {
  return {
    datagramsIn: 0,
    datagramsOut: 0,
    cryptDropped: 0,
    stray: 0,
    socketErrors: 0,
    bytesIn: 0,
    bytesOut: 0,
  };
}

describe('the process-wide counters (kcp-go DefaultSnmp)', () => {
  it('sums live sessions and keeps the counts of closed ones', () => {
    const snmp = new KcptunSnmp();
    const a = fakeSession();
    const b = fakeSession();
    snmp.sessionOpened(a.session, null, true);
    snmp.sessionOpened(b.session, null, false);
    a.stats.outSegments = 10;
    a.stats.retransmitTimeout = 2;
    a.stats.retransmitFast = 3;
    a.stats.retransmitEarly = 1;
    a.io.bytesWritten = 1000;
    b.stats.inSegments = 7;
    b.stats.inPushDuplicate = 1;
    b.stats.inPushBeyondWindow = 2;
    b.io.bytesRead = 500;
    let c = snmp.snapshot();
    expect(c).toMatchObject({ ActiveOpens: 1, PassiveOpens: 1, CurrEstab: 2, MaxConn: 2 });
    expect(c).toMatchObject({ OutSegs: 10, InSegs: 7, BytesSent: 1000, BytesReceived: 500 });
    expect(c).toMatchObject({
      RetransSegs: 5,
      LostSegs: 2,
      FastRetransSegs: 2,
      EarlyRetransSegs: 1,
      RepeatSegs: 3,
    });
    snmp.sessionClosed(a.session);
    snmp.sessionClosed(a.session); // once only
    c = snmp.snapshot();
    expect(c).toMatchObject({
      CurrEstab: 1,
      MaxConn: 2,
      OutSegs: 10,
      BytesSent: 1000,
      RetransSegs: 5,
    });
    // A closed session's block no longer counts (its stats are folded as they were).
    a.stats.outSegments = 99;
    expect(snmp.snapshot().OutSegs).toBe(10);
    expect(snmp.established).toBe(1);
  });

  it("maps a socket's counters and folds them when it closes", () => {
    const snmp = new KcptunSnmp();
    const e = fakeEndpoint();
    snmp.endpointOpened(e);
    Object.assign(e, {
      datagramsIn: 20,
      cryptDropped: 2,
      datagramsOut: 30,
      stray: 1,
      socketErrors: 1,
      bytesIn: 900,
      bytesOut: 1500,
    });
    const want = {
      InPkts: 18,
      InCsumErrors: 2,
      OutPkts: 30,
      KCPInErrors: 1,
      InErrs: 1,
      InBytes: 900,
      OutBytes: 1500,
    };
    expect(snmp.snapshot()).toMatchObject(want);
    snmp.endpointClosed(e);
    snmp.endpointClosed(e);
    e.datagramsOut = 1000;
    expect(snmp.snapshot()).toMatchObject(want);
  });

  it('takes the FEC decoder counters of a session', () => {
    const snmp = new KcptunSnmp();
    const a = fakeSession();
    const fec = {
      stats: { parityShards: 4, recovered: 3, badRecovered: 1, lostGroups: 2, malformed: 5 },
    };
    snmp.sessionOpened(a.session, fec as never, true);
    expect(snmp.snapshot()).toMatchObject({
      FECParityShards: 4,
      FECRecovered: 3,
      FECErrs: 1,
      FECShortShards: 2,
      InErrs: 5,
    });
  });
});

describe('EarlyRetransSegs: KcpStats.retransmitEarly', () => {
  it("counts kcp-go's early resend apart from the resend threshold", () => {
    const out: Uint8Array[][] = [[], []];
    const opts: KcpOptions = { preset: 'fast3', stream: true, mtu: 1000, earlyRetransmit: true };
    const a = new KcpControlBlock(9, (d, n) => out[0]?.push(d.slice(0, n)), opts);
    const b = new KcpControlBlock(9, (d, n) => out[1]?.push(d.slice(0, n)), opts);
    a.update(0);
    b.update(0);
    a.send(new Uint8Array(2 * a.mss));
    a.flush(0);
    const dgs = out[0]?.splice(0) ?? [];
    b.input(dgs[1] as Uint8Array, 1); // the first is lost
    b.flush(1);
    for (const d of out[1]?.splice(0) ?? []) a.input(d, 2);
    a.flush(2);
    expect(a.stats.retransmitFast).toBe(1);
    expect(a.stats.retransmitEarly).toBe(1);
  });
});

describe('SnmpLog (kcptun SnmpLogger)', () => {
  it('writes the header into an empty file only, then appends lines', async () => {
    const dir = tmp();
    let n = 0;
    const c = zeroSnmp();
    const log = new SnmpLog({
      path: join(dir, 'snmp-20060102.log'),
      periodSeconds: 1,
      warn: () => expect.fail('no warning expected'),
      snapshot: () => ({ ...c, BytesSent: ++n }),
      now: () => new Date(2026, 11, 7, 1, 2, 3),
    });
    logs.push(log);
    expect(await log.write()).toBe(true);
    expect(await log.write()).toBe(true);
    const lines = readFileSync(join(dir, 'snmp-20261207.log'), 'utf8').split('\n');
    expect(lines[0]).toBe(DEBIAN_HEADER);
    expect(lines.slice(1, 3).map((l) => l.split(',')[1])).toEqual(['1', '2']);
    expect(lines[3]).toBe('');
    // A file that already has lines gets no second header (kcptun looks at the size).
    const other = join(dir, 'other.log');
    writeFileSync(other, 'x\n');
    const log2 = new SnmpLog({ path: other, periodSeconds: 1, warn: () => {}, snapshot: () => c });
    await log2.write();
    expect(readFileSync(other, 'utf8').split('\n')[1]?.split(',')).toHaveLength(25);
  });

  it('an unwritable file: one warning, then it stops (kcptun returns from its logger)', async () => {
    const dir = tmp();
    const warnings: string[] = [];
    const log = new SnmpLog({
      path: join(dir, 'no', 'such', 'x.log'),
      periodSeconds: 1,
      warn: (w) => warnings.push(w),
    });
    logs.push(log);
    log.start();
    expect(log.running).toBe(true);
    expect(await log.write()).toBe(false);
    expect(await log.write()).toBe(false);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/--snmplog .*x\.log: .*SNMP logging stopped/);
    expect(log.running).toBe(false);
  });

  it('start-up: off without a path or with period 0; a missing directory is one warning', async () => {
    const warnings: string[] = [];
    const warn = (w: string) => warnings.push(w);
    expect(await startSnmpLog({ snmplog: '', snmpperiod: 60 }, warn)).toBeNull();
    expect(await startSnmpLog({ snmplog: join(tmp(), 'x.log'), snmpperiod: 0 }, warn)).toBeNull();
    expect(
      await startSnmpLog({ snmplog: '/nonexistent-dir-vproxy/x.log', snmpperiod: 1 }, warn),
    ).toBeNull();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/directory \/nonexistent-dir-vproxy is not writable/);
    const ok = await startSnmpLog({ snmplog: join(tmp(), 'x-20060102.log'), snmpperiod: 1 }, warn);
    expect(ok?.running).toBe(true);
    if (ok !== null) logs.push(ok);
    await ok?.stop();
    expect(ok?.running).toBe(false);
  });

  it.skipIf(process.getuid?.() === 0)(
    'a read-only directory is one warning at start-up',
    async () => {
      const dir = tmp();
      chmodSync(dir, 0o500);
      const warnings: string[] = [];
      expect(
        await startSnmpLog({ snmplog: join(dir, 'x.log'), snmpperiod: 1 }, (w) => warnings.push(w)),
      ).toBeNull();
      expect(warnings).toHaveLength(1);
      chmodSync(dir, 0o700);
    },
  );
});

describe('--snmplog / --snmpperiod flags', () => {
  it('are taken, not warned about, with kcptun defaults', () => {
    const cli = parseKcptunArgs('client', ['--snmplog', './snmp-20060102.log', '-snmpperiod', '1']);
    expect(cli).toMatchObject({ snmplog: './snmp-20060102.log', snmpperiod: 1, warnings: [] });
    expect(parseKcptunArgs('server', [])).toMatchObject({ snmplog: '', snmpperiod: 60 });
    expect(parseKcptunArgs('server', ['--snmpperiod=0'])).toMatchObject({ snmpperiod: 0 });
  });

  it('come from the -c JSON too', () => {
    const file = join(tmp(), 'c.json');
    writeFileSync(file, JSON.stringify({ snmplog: '/tmp/s.log', snmpperiod: 5 }));
    expect(parseKcptunArgs('server', ['-c', file])).toMatchObject({
      snmplog: '/tmp/s.log',
      snmpperiod: 5,
    });
  });

  it('refuse a negative period (kcptun panics one tick later)', () => {
    expect(() => parseKcptunArgs('client', ['--snmpperiod', '-1'])).toThrow(/snmpperiod -1/);
    expect(() => parseKcptunArgs('client', ['--snmpperiod', '9999999'])).toThrow(/snmpperiod/);
  });

  it('the help lists them as implemented', () => {
    const text = usage('client');
    expect(text).toMatch(/--snmplog value\n/);
    expect(text).toMatch(/--snmpperiod value\n/);
  });
});
