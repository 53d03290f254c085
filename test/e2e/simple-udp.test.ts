import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { type RunningCli, startCli } from '../helpers/cli.js';
import { closedPort } from '../helpers/net.js';
import { anyMissing, requireTool, skipNote } from '../helpers/require-tool.js';

// DNS through a kcp tunnel made of two `vproxy simple` processes, as the README's
// tour runs it: dig → udp://near → kcp:// → far → udp://dnsmasq.

const run = promisify(execFile);
const dig = requireTool('dig');
const dnsmasq = requireTool('dnsmasq');
const missing = anyMissing(dig, dnsmasq);
const note = skipNote(dig, dnsmasq);
const procs: RunningCli[] = [];
let resolver: ChildProcess | undefined;

afterAll(async () => {
  for (const p of procs) await p.stop();
  resolver?.kill();
});

async function digAt(port: number): Promise<string> {
  const { stdout } = await run(dig.path, [
    '@127.0.0.1',
    '-p',
    String(port),
    'a.test',
    '+short',
    '+tries=1',
    '+time=2',
  ]);
  return stdout.trim();
}

describe.skipIf(missing)(`vproxy simple: DNS over kcp${note}`, () => {
  it('dig through udp → kcp → udp gets the resolver’s answer; and stops at once', async () => {
    const dnsPort = await closedPort();
    resolver = spawn(
      dnsmasq.path,
      [
        '--keep-in-foreground',
        '--conf-file=/dev/null',
        `--port=${dnsPort}`,
        '--listen-address=127.0.0.1',
        '--bind-interfaces',
        '--no-resolv',
        '--no-hosts',
        '--address=/a.test/10.9.8.7',
        '--pid-file=',
        ...(process.getuid?.() === 0 ? ['--user=root'] : []),
      ],
      { stdio: 'ignore' },
    );
    const kcpPort = await closedPort();
    const nearPort = await closedPort();
    const far = await startCli(
      ['simple', '--bind', `kcp://127.0.0.1:${kcpPort}`, '--backend', `udp://127.0.0.1:${dnsPort}`],
      /stream-to-udp on kcp:/,
    );
    procs.push(far.running);
    const near = await startCli(
      [
        'simple',
        '--bind',
        `udp://127.0.0.1:${nearPort}`,
        '--backend',
        `kcp://127.0.0.1:${kcpPort}`,
        '--udp-idle-timeout',
        '2000',
      ],
      /udp-to-stream on udp:/,
    );
    procs.push(near.running);
    let answer = '';
    for (let i = 0; i < 20 && answer !== '10.9.8.7'; i++) {
      answer = await digAt(nearPort).catch(() => '');
    }
    expect(answer).toBe('10.9.8.7');
    for (let i = 0; i < 5; i++) expect(await digAt(nearPort)).toBe('10.9.8.7');
    await near.running.stop();
    expect(near.running.output()).toMatch(/stopped after \d+ flows, \d+ datagrams in, \d+ out/);
  }, 60_000);
});
