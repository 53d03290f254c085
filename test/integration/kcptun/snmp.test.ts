import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { parseKcptunArgs } from '../../../apps/kcptun/flags.js';
import { runClient, runServer } from '../../../apps/kcptun/run.js';
import { startSnmpLog } from '../../../apps/kcptun/snmp-log.js';
import {
  kcptunSnmp,
  SNMP_FIELDS,
  type SnmpField,
  snmpHeaderLine,
} from '../../../transports/kcptun/index.js';
import { requireTool, skipNote } from '../../helpers/require-tool.js';
import {
  exchangeClient,
  exchangeTarget,
  freeUdpPort,
  pattern,
  sha,
  spawnKcptun,
  tcpConnect,
} from './harness.js';

// `--snmplog` / `--snmpperiod` as kcptun writes them: our client and server on loopback,
// then the header Debian's kcptun-client writes compared with ours.

const SIZE = 1024 * 1024;
/** kcptun's defaults: mtu 1350 less aes (20), FEC (8) and KCP (24) headers. */
const MSS = 1350 - 20 - 8 - 24;
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tmp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kcptun-snmp-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `--snmplog <dir>/<prefix>-20060102.log --snmpperiod 1` (kcptun allows 1 s too). */
function snmpFlags(dir: string, prefix: string): string[] {
  return ['--snmplog', join(dir, `${prefix}-20060102.log`), '--snmpperiod', '1'];
}

type Row = Record<'Unix' | SnmpField, number>;

/** The file's rows by column name (the file named `snmp-YYYYMMDD.log` in `dir`, if any). */
function readRows(
  dir: string,
  prefix: string,
): { header: string; rows: Row[]; name: string } | null {
  const name = readdirSync(dir).find((f) => f.startsWith(prefix));
  if (name === undefined) return null;
  const lines = readFileSync(join(dir, name), 'utf8').split('\n');
  const header = lines[0] ?? '';
  const cols = header.split(',');
  const rows = lines
    .slice(1)
    .filter((l) => l !== '')
    .map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], Number(v)])) as Row);
  return { header, rows, name };
}

async function until<T>(what: string, ms: number, f: () => T | null | undefined): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== null && v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('vproxy kcptun --snmplog', () => {
  it('client and server on loopback: a line a second, counters that follow a transfer', {
    timeout: 30_000,
  }, async () => {
    const dir = tmp();
    // First in this file (a process of its own): the process's counters start at zero.
    const started = Math.floor(Date.now() / 1000);
    const target = await exchangeTarget(SIZE);
    cleanups.push(() => target.server.close());
    const common = ['--key', 'snmp', '--nocomp', '--quiet'];
    const quiet = (): void => {};
    const server = await runServer(
      parseKcptunArgs('server', ['-l', '127.0.0.1:0', '-t', `127.0.0.1:${target.port}`, ...common]),
      quiet,
    );
    cleanups.push(() => server.close());
    const cli = parseKcptunArgs('client', [
      '-l',
      '127.0.0.1:0',
      '-r',
      `127.0.0.1:${server.address.port}`,
      ...snmpFlags(dir, 'snmp'),
      ...common,
    ]);
    expect(cli.warnings).toEqual([]);
    const client = await runClient(cli, quiet);
    cleanups.push(() => client.close());
    const warnings: string[] = [];
    const log = await startSnmpLog(cli, (w) => warnings.push(w));
    expect(log).not.toBeNull();
    cleanups.push(() => log?.stop());

    // A first line before any traffic: the timer runs on its own.
    const first = await until('a first line', 5000, () => readRows(dir, 'snmp-')?.rows[0]);
    expect(first.BytesSent).toBe(0);

    const sock = await tcpConnect(client.address.port);
    const r = await exchangeClient(sock, SIZE, 20_000, () => target.received[0]);
    expect(r.got).toBe(sha(pattern(SIZE, 2)));
    expect(r.sent).toBe(sha(pattern(SIZE, 1)));

    // Both ends are in this process, so the counters (process-wide, as kcp-go's) sum both.
    const file = await until('a line after the transfer', 10_000, () => {
      const f = readRows(dir, 'snmp-');
      const last = f?.rows.at(-1);
      return last !== undefined && last.BytesReceived >= 2 * SIZE ? f : null;
    });
    expect(file.header).toBe(snmpHeaderLine().trimEnd());
    // The name is the layout formatted with the local date of a line.
    expect(file.name).toMatch(/^snmp-\d{8}\.log$/);
    const last = file.rows.at(-1) as Row;
    expect(Object.keys(last)).toEqual(['Unix', ...SNMP_FIELDS]);
    expect(last.Unix).toBeGreaterThanOrEqual(started);
    expect(last.Unix).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
    expect(last).toMatchObject({ ActiveOpens: 1, PassiveOpens: 1, MaxConn: 2, CurrEstab: 2 });
    expect(last.BytesSent).toBeGreaterThanOrEqual(2 * SIZE);
    // Every byte sent left in a PUSH segment of at most MSS bytes.
    expect(last.OutSegs).toBeGreaterThanOrEqual(Math.ceil(last.BytesSent / MSS));
    expect(last.InSegs).toBeGreaterThanOrEqual(Math.ceil(last.BytesReceived / MSS));
    // Whatever arrived here was sent from here (one process, loopback).
    expect(last.InPkts).toBeGreaterThan(0);
    expect(last.OutPkts).toBeGreaterThanOrEqual(last.InPkts);
    expect(last.InBytes).toBeGreaterThan(last.BytesReceived);
    expect(last.OutBytes).toBeGreaterThanOrEqual(last.InBytes);
    // Data shards leave with parity (kcptun's default 10/3).
    expect(last.FECParityShards).toBeGreaterThan(0);
    expect(last.RetransSegs).toBe(last.LostSegs + last.FastRetransSegs + last.EarlyRetransSegs);
    expect(last.InCsumErrors + last.KCPInErrors + last.InErrs).toBe(0);
    // Cumulative: no column but CurrEstab goes down from line to line.
    for (let i = 1; i < file.rows.length; i++) {
      const [a, b] = [file.rows[i - 1] as Row, file.rows[i] as Row];
      for (const f of SNMP_FIELDS)
        if (f !== 'CurrEstab') expect(b[f]).toBeGreaterThanOrEqual(a[f] as number);
    }

    // Closed sessions keep their counts: only CurrEstab goes back to 0.
    await client.close();
    await server.close();
    const after = await until('the sessions to end', 10_000, () => {
      const s = kcptunSnmp.snapshot();
      return s.CurrEstab === 0 ? s : null;
    });
    expect(after.BytesSent).toBeGreaterThanOrEqual(last.BytesSent);
    expect(after.OutPkts).toBeGreaterThanOrEqual(last.OutPkts);
    expect(after.MaxConn).toBe(2);
    expect(warnings).toEqual([]);
  });
});

const debClient = requireTool('kcptun-client');

describe.skipIf(debClient.missing)(`Debian kcptun-client --snmplog${skipNote(debClient)}`, () => {
  it('writes the header we write, and lines of as many columns', { timeout: 20_000 }, async () => {
    const dir = tmp();
    // No server: kcptun dials lazily, and its logger writes (zeros) all the same.
    const peer = spawnKcptun(debClient.path, [
      '-l',
      '127.0.0.1:0',
      '-r',
      '127.0.0.1:9',
      ...snmpFlags(dir, 'deb'),
      '--quiet',
    ]);
    cleanups.push(peer.stop);
    const file = await until('kcptun-client to write its file', 15_000, () => {
      const f = readRows(dir, 'deb-');
      return f !== null && f.rows.length > 0 ? f : null;
    });
    expect(file.header).toBe(snmpHeaderLine().trimEnd());
    expect(file.name).toMatch(/^deb-\d{8}\.log$/);
    expect(Object.keys(file.rows[0] as Row)).toEqual(['Unix', ...SNMP_FIELDS]);
  });
});

const debServer = requireTool('kcptun-server');
const AES_HEADER = 20;

/**
 * What one side sent, the other received: the stream bytes exactly (KCP is reliable), the
 * datagrams, segments and bytes up to what the link lost (none, usually, on loopback).
 * InBytes is after the crypt header (kcp-go's), OutBytes the UDP payload: aes adds 20.
 */
function expectMirrored(a: Row, b: Row): void {
  expect(a.BytesSent).toBe(b.BytesReceived);
  expect(a.BytesReceived).toBe(b.BytesSent);
  for (const [sent, got] of [
    [a, b],
    [b, a],
  ] as const) {
    const pairs: [number, number][] = [
      [sent.OutPkts, got.InPkts],
      [sent.OutSegs, got.InSegs],
      [sent.OutBytes - AES_HEADER * got.InPkts, got.InBytes],
    ];
    for (const [out, received] of pairs) {
      expect(received).toBeLessThanOrEqual(out);
      expect(received).toBeGreaterThanOrEqual(out * 0.99);
    }
  }
}

/** Whether something is bound to 127.0.0.1:port over UDP (Linux's table). */
function udpBound(port: number): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
  return readFileSync('/proc/net/udp', 'utf8').includes(`0100007F${hex}`);
}

describe.skipIf(debServer.missing)(
  `our client ↔ Debian kcptun-server, both logging${skipNote(debServer)}`,
  () => {
    it('the two files tell the same story', { timeout: 30_000 }, async () => {
      const dir = tmp();
      const target = await exchangeTarget(SIZE);
      cleanups.push(() => target.server.close());
      const udp = await freeUdpPort();
      const peer = spawnKcptun(debServer.path, [
        '-l',
        `127.0.0.1:${udp}`,
        '-t',
        `127.0.0.1:${target.port}`,
        '--key',
        'snmp',
        '--nocomp',
        ...snmpFlags(dir, 'deb'),
        '--quiet',
      ]);
      cleanups.push(peer.stop);
      // Not before it listens (after its key derivation): a first datagram to a closed port
      // is lost, and an ECONNREFUSED on our socket (InErrs).
      await until('kcptun-server to listen', 10_000, () => (udpBound(udp) ? true : null));
      const cli = parseKcptunArgs('client', [
        '-l',
        '127.0.0.1:0',
        '-r',
        `127.0.0.1:${udp}`,
        '--key',
        'snmp',
        '--nocomp',
        '--quiet',
        ...snmpFlags(dir, 'ours'),
      ]);
      // The counters are the process's: what the tests before this one counted is in them.
      const base = kcptunSnmp.snapshot();
      const since = (r: Row | undefined): Row | undefined => {
        if (r === undefined) return undefined;
        const d = { ...r };
        for (const f of SNMP_FIELDS) if (f !== 'MaxConn' && f !== 'CurrEstab') d[f] -= base[f];
        return d;
      };
      const client = await runClient(cli, () => {});
      cleanups.push(() => client.close());
      const log = await startSnmpLog(cli, () => {});
      cleanups.push(() => log?.stop());
      const sock = await tcpConnect(client.address.port);
      const r = await exchangeClient(sock, SIZE, 20_000, () => target.received[0]);
      expect(r.got).toBe(sha(pattern(SIZE, 2)));
      // Once the link is quiet, each side's latest line mirrors the other's, as two kcptun's
      // would (on an idle loopback, exactly: see expectMirrored).
      let seen = '';
      const [ours, theirs] = await until('the two files to settle', 15_000, () => {
        const fa = readRows(dir, 'ours-');
        const fb = readRows(dir, 'deb-');
        const a = since(fa?.rows.at(-1));
        const b = fb?.rows.at(-1);
        seen = JSON.stringify({ ours: a, theirs: b });
        const quiet = (rows: Row[] | undefined): boolean => {
          const [x, y] = [rows?.at(-2), rows?.at(-1)];
          return (
            x !== undefined && y !== undefined && x.OutPkts === y.OutPkts && x.InPkts === y.InPkts
          );
        };
        return a !== undefined &&
          b !== undefined &&
          a.BytesSent >= SIZE &&
          a.BytesReceived >= SIZE &&
          quiet(fa?.rows) &&
          quiet(fb?.rows)
          ? ([a, b] as const)
          : null;
      }).catch((err: Error) => {
        throw new Error(`${err.message}: ${seen}`);
      });
      expectMirrored(ours, theirs);
      expect(ours).toMatchObject({ ActiveOpens: 1, PassiveOpens: 0, CurrEstab: 1 });
      expect(theirs).toMatchObject({ ActiveOpens: 0, PassiveOpens: 1, MaxConn: 1, CurrEstab: 1 });
      expect(ours.FECParityShards).toBeGreaterThan(0);
    });
  },
);
