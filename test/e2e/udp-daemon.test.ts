import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controllerArgs, type RunningCli, redisCli, startCli } from '../helpers/cli.js';
import { closedPort } from '../helpers/net.js';
import { anyMissing, requireTool, skipNote } from '../helpers/require-tool.js';
import { closeSocket, startUdpEcho, type UdpEcho, udpClient, udpRequest } from '../helpers/udp.js';

// Issue 15 through a running daemon: `dig` through a udp-lb to two dnsmasq
// resolvers (each answers a.test with its own address, so the answer says who
// served it) alternates as wrr says and follows health; a socks5-server with
// allow-udp relays UDP ASSOCIATE datagrams to backends and drops others.

const run = promisify(execFile);
const dig = requireTool('dig');
const dnsmasq = requireTool('dnsmasq');
const redis = requireTool('redis-cli');
const missing = anyMissing(dig, dnsmasq, redis);
const note = skipNote(dig, dnsmasq, redis);

/** A DNS query for a.test A: the udp health check's payload (dnsmasq ignores junk). */
const DNS_PROBE = `123401000001000000000000${'0161'}${'0474657374'}00${'0001'}${'0001'}`;

let dir: string;
let daemon: RunningCli | undefined;
const ports = { resp: 0, http: 0, lb: 0, s5: 0 };
const resolvers: { port: number; child: ChildProcess }[] = [];
const echoes: UdpEcho[] = [];

async function startDnsmasq(answer: string): Promise<{ port: number; child: ChildProcess }> {
  const port = await closedPort();
  const child = spawn(
    dnsmasq.path,
    [
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      `--port=${port}`,
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      '--no-resolv',
      '--no-hosts',
      `--address=/a.test/${answer}`,
      '--pid-file=',
      ...(process.getuid?.() === 0 ? ['--user=root'] : []),
    ],
    { stdio: 'ignore' },
  );
  const r = { port, child };
  resolvers.push(r);
  // Ready when it answers.
  for (let i = 0; i < 50; i++) {
    if ((await digAt(port).catch(() => '')) === answer) return r;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`dnsmasq on ${port} did not answer`);
}

async function digAt(port: number): Promise<string> {
  const { stdout } = await run(dig.path, [
    '@127.0.0.1',
    '-p',
    String(port),
    'a.test',
    '+short',
    '+tries=1',
    '+time=1',
  ]);
  return stdout.trim();
}

async function cmd(line: string): Promise<string[]> {
  const out = await redisCli(ports.resp, line);
  if (out[0]?.startsWith('ERR')) throw new Error(`${line}: ${out.join(' ')}`);
  return out;
}

beforeAll(async () => {
  if (missing) return;
  dir = mkdtempSync(join(tmpdir(), 'vproxy-udp-e2e-'));
  ports.resp = await closedPort();
  ports.http = await closedPort();
  ports.lb = await closedPort();
  ports.s5 = await closedPort();
  const { running } = await startCli(
    ['--config-dir', join(dir, 'home'), '--no-stdio', '--no-save', ...controllerArgs(ports)],
    /started; type/,
  );
  daemon = running;
});

afterAll(async () => {
  await daemon?.stop();
  for (const r of resolvers) if (r.child.exitCode === null) r.child.kill();
  for (const e of echoes) await e.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(missing)(`udp-lb through the daemon${note}`, () => {
  it('dig alternates between two dnsmasq resolvers (wrr), then follows health', async () => {
    const a = await startDnsmasq('10.0.0.1');
    const b = await startDnsmasq('10.0.0.2');
    await cmd(
      `add server-group dns timeout 3000 period 200 up 1 down 2 method wrr check udp:${DNS_PROBE}`,
    );
    await cmd(`add server r1 to server-group dns address udp://127.0.0.1:${a.port} weight 10`);
    await cmd(`add server r2 to server-group dns address udp://127.0.0.1:${b.port} weight 10`);
    await cmd('add upstream dns');
    await cmd('add server-group dns to upstream dns weight 10');
    await cmd(`add udp-lb dns address udp://127.0.0.1:${ports.lb} upstream dns timeout 5000`);
    // Both UP (the udp probe is a DNS query), then each dig (a new source port: a new flow) alternates.
    for (let i = 0; i < 50; i++) {
      const servers = await cmd('list-detail server in server-group dns');
      if (servers.every((s) => s.includes('currently UP'))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const answers: string[] = [];
    for (let i = 0; i < 8; i++) answers.push(await digAt(ports.lb));
    for (let i = 1; i < answers.length; i++) expect(answers[i]).not.toBe(answers[i - 1]);
    expect(new Set(answers)).toEqual(new Set(['10.0.0.1', '10.0.0.2']));

    // Kill one: after DOWN every query is answered by the other.
    b.child.kill();
    await once(b.child, 'exit');
    let down = false;
    for (let i = 0; i < 50 && !down; i++) {
      down = (await cmd('list-detail server in server-group dns')).some(
        (s) => s.startsWith('r2') && s.includes('currently DOWN'),
      );
      if (!down) await new Promise((r) => setTimeout(r, 100));
    }
    expect(down).toBe(true);
    for (let i = 0; i < 6; i++) expect(await digAt(ports.lb)).toBe('10.0.0.1');
    const [detail] = await cmd('list-detail udp-lb');
    expect(detail).toMatch(/^dns -> bind 127\.0\.0\.1:\d+ .* refused 0$/);
  }, 60_000);

  it('socks5 UDP ASSOCIATE: a backend is reached, a non-backend is not, deny-udp refuses', async () => {
    const allowed = await startUdpEcho('OK:');
    const other = await startUdpEcho('NO:');
    echoes.push(allowed, other);
    await cmd('add server-group ge timeout 3000 period 200 up 1 down 2 method wrr check udp');
    await cmd(`add server e1 to server-group ge address udp://127.0.0.1:${allowed.port} weight 10`);
    await cmd('add upstream ue');
    await cmd('add server-group ge to upstream ue weight 10');
    await cmd(`add socks5-server s5 address 127.0.0.1:${ports.s5} upstream ue allow-udp`);

    const assoc = await associate(ports.s5);
    expect(assoc.code).toBe(0);
    const client = await udpClient();
    try {
      const answer = await udpRequest(client, assoc.port, wrap(allowed.port, 'ping'));
      expect(answer?.subarray(10).toString()).toBe('OK:ping');
      // Not a backend of the upstream (deny-non-backend is the default): dropped.
      expect(await udpRequest(client, assoc.port, wrap(other.port, 'ping'), 500)).toBeNull();
      expect(other.received).toBe(0);
    } finally {
      await closeSocket(client);
      assoc.control.destroy();
    }

    await cmd('update socks5-server s5 deny-udp');
    const refused = await associate(ports.s5);
    refused.control.destroy();
    expect(refused.code).not.toBe(0);
  }, 30_000);
});

/** A socks5 UDP request header for 127.0.0.1:port (RFC 1928 §7), then the data. */
function wrap(port: number, data: string): Buffer {
  const header = Buffer.from([0, 0, 0, 1, 127, 0, 0, 1, 0, 0]);
  header.writeUInt16BE(port, 8);
  return Buffer.concat([header, Buffer.from(data)]);
}

/** Greeting (no auth) and UDP ASSOCIATE; the reply code and the relay's port. */
async function associate(port: number): Promise<{ code: number; port: number; control: Socket }> {
  const control = connect(port, '127.0.0.1');
  await once(control, 'connect');
  control.on('error', () => {});
  let buffered = Buffer.alloc(0);
  const read = async (n: number): Promise<Buffer> => {
    while (buffered.length < n) {
      const [chunk] = (await Promise.race([
        once(control, 'data'),
        once(control, 'close').then(() => [Buffer.alloc(0)]),
      ])) as [Buffer];
      if (chunk.length === 0) break;
      buffered = Buffer.concat([buffered, chunk]);
    }
    const out = buffered.subarray(0, n);
    buffered = buffered.subarray(n);
    return out;
  };
  control.write(Buffer.from([5, 1, 0]));
  await read(2);
  control.write(Buffer.from([5, 3, 0, 1, 0, 0, 0, 0, 0, 0]));
  const reply = await read(10);
  return { code: reply[1] ?? 255, port: reply.length >= 10 ? reply.readUInt16BE(8) : 0, control };
}
