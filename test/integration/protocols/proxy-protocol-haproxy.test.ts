import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerFD } from '../../../src/fd/server-fd.js';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import { FrameReader } from '../../../src/protocols/frame-reader.js';
import {
  encodeProxyV1,
  encodeProxyV2,
  type ProxyHeader,
  type ProxyHeaderInit,
  proxyHeaderSpec,
  readProxyHeader,
} from '../../../src/protocols/proxy-protocol/index.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { closedPort } from '../../helpers/net.js';
import { requireTool, skipNote } from '../../helpers/require-tool.js';

// HAProxy (the reference implementation of the PROXY protocol) on loopback:
// what its send-proxy / send-proxy-v2 writes must equal our encoder's bytes
// exactly, our decoder must read it, and HAProxy's accept-proxy must take
// what our encoder writes (it re-emits the addresses we claimed).

// Found as a shell would (PATH plus the sbin dirs); missing fails in CI and
// skips visibly elsewhere.
const haproxy = requireTool('haproxy');

const registry = createDefaultRegistry();
const spec = proxyHeaderSpec();
let baseline: string[];
let dir: string;
let haproxyProc: ChildProcess;
let haproxyLog = '';
let rawBackend: ServerFD;
let parsedBackend: ServerFD;
/** What each connection to the raw backend has sent so far. */
const rawConns: { parts: Buffer[]; fd: StreamFD }[] = [];
const rawWaiters: (() => void)[] = [];
const rawSeen = () => rawConns.map((c) => Buffer.concat(c.parts));
const parsedSeen: { header: ProxyHeader; rest: string }[] = [];
const parsedConns = new Set<StreamFD>();
const ports: Record<string, number> = {};

/** Wait for the raw backend to have seen a connection whose bytes satisfy `match`. */
async function rawMatching(match: (raw: Buffer) => boolean, ms = 5_000): Promise<Buffer> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = rawSeen().find(match);
    if (found) return found;
    if (Date.now() > deadline)
      throw new Error(
        `no matching connection among ${rawConns.length} (${rawSeen()
          .map((b) => b.length)
          .join(',')}); haproxy said: ${haproxyLog}`,
      );
    await new Promise<void>((r) => {
      const t = setTimeout(r, 50);
      rawWaiters.push(() => {
        clearTimeout(t);
        r();
      });
    });
  }
}

/** Split what the raw backend received into [header bytes, the rest], with our decoder. */
function splitHeader(raw: Buffer): [Buffer, Buffer, ProxyHeader] {
  const reader = new FrameReader(spec);
  const used = reader.feed(raw);
  expect(reader.done).toBe(true);
  return [raw.subarray(0, used), raw.subarray(used), reader.result];
}

/**
 * Connect through HAProxy and send `payload`; end only once `delivered` says it
 * arrived (HAProxy 2.6 drops a client that sends data and FIN before the
 * server connection is up), then wait for the close.
 */
async function send(
  host: string,
  port: number,
  payload: Buffer,
  delivered: () => Promise<unknown>,
): Promise<{ local: { host: string; port: number } }> {
  const sock: Socket = connect({ host, port });
  await once(sock, 'connect');
  const local = { host: sock.localAddress as string, port: sock.localPort as number };
  const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
  sock.on('error', () => {});
  sock.resume();
  sock.write(payload);
  try {
    await delivered();
  } finally {
    sock.end();
    setTimeout(() => sock.destroy(), 2_000).unref();
    await closed;
  }
  return { local };
}

async function waitListening(host: string, port: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`haproxy not listening on ${port}: ${haproxyLog}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(haproxy.missing)(`PROXY protocol against HAProxy${skipNote(haproxy)}`, () => {
  beforeAll(async () => {
    baseline = snapshotSockets();
    rawBackend = await registry.listen('tcp://127.0.0.1:0');
    rawBackend.on('connection', (fd) => {
      const conn = { parts: [] as Buffer[], fd };
      rawConns.push(conn);
      fd.on('data', (d: Buffer) => {
        conn.parts.push(d);
        for (const w of rawWaiters.splice(0)) w();
      });
      fd.on('end', () => fd.end());
      fd.on('error', () => fd.destroy());
      // Accepted streams start paused (the tcp listener uses pauseOnConnect).
      fd.resume();
    });
    parsedBackend = await registry.listen('tcp://127.0.0.1:0');
    parsedBackend.on('connection', async (fd) => {
      parsedConns.add(fd);
      fd.once('close', () => parsedConns.delete(fd));
      try {
        const header = await readProxyHeader(fd, { timeoutMs: 5_000 });
        fd.on('error', () => {});
        const parts: Buffer[] = [];
        fd.on('data', (d: Buffer) => {
          parts.push(d);
          const rest = Buffer.concat(parts).toString();
          if (rest.endsWith('\n')) parsedSeen.push({ header, rest });
        });
        fd.on('end', () => fd.destroy());
        fd.resume();
      } catch {
        // readiness probes that close before sending a header
      }
    });
    for (const name of ['v1', 'v2', 'v2crc', 'acceptV1', 'acceptV2', 'check'])
      ports[name] = await closedPort();
    for (const name of ['v1six', 'v2six']) ports[name] = await closedPort();
    ports.parsed = await closedPort();
    const raw = `127.0.0.1:${rawBackend.address().port}`;
    const parsed = `127.0.0.1:${parsedBackend.address().port}`;
    const fe = (name: string, bind: string, server: string, extra = '') =>
      `frontend f_${name}\n  bind ${bind}${extra}\n  default_backend b_${name}\nbackend b_${name}\n  server s ${server}\n`;
    const config = [
      'global\n  maxconn 200\n',
      'defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 10s\n  timeout server 10s\n',
      fe('v1', `127.0.0.1:${ports.v1}`, `${raw} send-proxy`),
      fe('v2', `127.0.0.1:${ports.v2}`, `${raw} send-proxy-v2`),
      fe('v2crc', `127.0.0.1:${ports.v2crc}`, `${raw} send-proxy-v2 proxy-v2-options crc32c`),
      fe('v1six', `[::1]:${ports.v1six}`, `${raw} send-proxy`),
      fe('v2six', `[::1]:${ports.v2six}`, `${raw} send-proxy-v2`),
      fe('parsed', `127.0.0.1:${ports.parsed}`, `${parsed} send-proxy-v2`),
      fe('acceptV1', `127.0.0.1:${ports.acceptV1}`, `${raw} send-proxy`, ' accept-proxy'),
      fe(
        'acceptV2',
        `127.0.0.1:${ports.acceptV2}`,
        `${raw} send-proxy-v2 proxy-v2-options authority,crc32c`,
        ' accept-proxy',
      ),
      // Health checks carrying a PROXY v2 header: HAProxy sends LOCAL for those.
      fe(
        'check',
        `127.0.0.1:${ports.check}`,
        `${raw} send-proxy-v2 check check-send-proxy inter 200ms`,
      ),
    ].join('');
    dir = mkdtempSync(join(tmpdir(), 'vproxy-haproxy-'));
    writeFileSync(join(dir, 'haproxy.cfg'), config);
    haproxyProc = spawn(haproxy.path, ['-f', join(dir, 'haproxy.cfg'), '-db'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    haproxyProc.stdout?.on('data', (d: Buffer) => (haproxyLog += d.toString()));
    haproxyProc.stderr?.on('data', (d: Buffer) => (haproxyLog += d.toString()));
    await waitListening('127.0.0.1', ports.check as number);
    await waitListening('::1', ports.v2six as number);
  });

  afterAll(async () => {
    if (haproxyProc && haproxyProc.exitCode === null) {
      const exited = once(haproxyProc, 'exit');
      haproxyProc.kill('SIGTERM');
      await exited;
    }
    await rawBackend?.close();
    await parsedBackend?.close();
    for (const c of rawConns) c.fd.destroy();
    for (const fd of parsedConns) fd.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await expectNoLeakedSockets(baseline);
  });

  const token = () => Buffer.from(`token-${randomBytes(8).toString('hex')}\n`);
  const endsWith = (t: Buffer) => (raw: Buffer) =>
    raw.length > t.length && raw.subarray(raw.length - t.length).equals(t);

  it.each([
    ['send-proxy (v1, TCP4)', 'v1', '127.0.0.1', 1],
    ['send-proxy-v2 (TCP4)', 'v2', '127.0.0.1', 2],
    ['send-proxy-v2 + crc32c', 'v2crc', '127.0.0.1', 2],
    ['send-proxy from an IPv6 frontend (v1, TCP6)', 'v1six', '::1', 1],
    ['send-proxy-v2 from an IPv6 frontend (TCP6)', 'v2six', '::1', 2],
  ] as const)("%s: HAProxy's bytes equal our encoder's", async (_, name, host, version) => {
    const t = token();
    const port = ports[name] as number;
    const { local } = await send(host, port, t, () => rawMatching(endsWith(t)));
    const raw = await rawMatching(endsWith(t));
    const [headerBytes, rest, decoded] = splitHeader(raw);
    expect(rest).toEqual(t);
    const init: ProxyHeaderInit = {
      source: local,
      destination: { host, port },
      checksum: name === 'v2crc',
    };
    const ours =
      version === 1
        ? encodeProxyV1({ source: init.source, destination: init.destination })
        : encodeProxyV2(init);
    expect(headerBytes.toString('hex')).toBe(ours.toString('hex'));
    expect(decoded).toMatchObject({
      version,
      command: 'proxy',
      source: local,
      destination: { host, port },
    });
  });

  it("readProxyHeader reads HAProxy's header off a live stream and leaves the data", async () => {
    const t = token();
    const arrived = async () => {
      const deadline = Date.now() + 5_000;
      while (!parsedSeen.some((p) => p.rest === t.toString()) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const { local } = await send('127.0.0.1', ports.parsed as number, t, arrived);
    const seen = parsedSeen.find((p) => p.rest === t.toString());
    expect(seen?.header).toMatchObject({
      version: 2,
      family: 'tcp4',
      source: local,
      destination: { host: '127.0.0.1', port: ports.parsed },
    });
  });

  it('HAProxy accepts our v1 line and re-emits exactly the addresses we claimed', async () => {
    const claimed: ProxyHeaderInit = {
      source: { host: '203.0.113.7', port: 4242 },
      destination: { host: '198.51.100.9', port: 443 },
    };
    const ours = encodeProxyV1(claimed);
    const t = token();
    await send('127.0.0.1', ports.acceptV1 as number, Buffer.concat([ours, t]), () =>
      rawMatching(endsWith(t)),
    );
    const [headerBytes, rest] = splitHeader(await rawMatching(endsWith(t)));
    expect(rest).toEqual(t);
    expect(headerBytes.toString('latin1')).toBe(ours.toString('latin1'));
  });

  it('HAProxy accepts our v2 block (IPv6, AUTHORITY TLV, CRC32C) and re-emits it byte for byte', async () => {
    const claimed: ProxyHeaderInit = {
      source: { host: '2001:db8::7', port: 4242 },
      destination: { host: '2001:db8:1::9', port: 8443 },
      tlvs: [{ type: 0x02, value: Buffer.from('service.example') }],
      checksum: true,
    };
    const ours = encodeProxyV2(claimed);
    const t = token();
    await send('127.0.0.1', ports.acceptV2 as number, Buffer.concat([ours, t]), () =>
      rawMatching(endsWith(t)),
    );
    const [headerBytes, rest, decoded] = splitHeader(await rawMatching(endsWith(t)));
    expect(rest).toEqual(t);
    expect(headerBytes.toString('hex')).toBe(ours.toString('hex'));
    expect(decoded.tlvs.map((x) => x.type)).toEqual([0x03, 0x02]);
  });

  it('HAProxy rejects our v2 block when its checksum is wrong (so the CRC is really checked)', async () => {
    const bad = encodeProxyV2({
      source: { host: '192.0.2.1', port: 1 },
      destination: { host: '192.0.2.2', port: 2 },
      checksum: true,
    });
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0xff;
    const t = token();
    await send(
      '127.0.0.1',
      ports.acceptV2 as number,
      Buffer.concat([bad, t]),
      () => new Promise((r) => setTimeout(r, 300)),
    );
    expect(rawSeen().some(endsWith(t))).toBe(false);
  });

  it('HAProxy health checks send a v2 LOCAL header, which we decode as LOCAL', async () => {
    const local = await rawMatching((raw) => raw.length === 16);
    expect(local.toString('hex')).toBe(encodeProxyV2({ command: 'local' }).toString('hex'));
    expect(splitHeader(local)[2]).toMatchObject({ version: 2, command: 'local', family: 'unspec' });
  });
});
