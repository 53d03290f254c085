import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningCli, rssBytes, startCli } from '../helpers/cli.js';
import { hashUntilEnd, startServer, stopServer, writeRandom } from '../helpers/net.js';

// A paused reader on one side while 500 MB is offered on the other: the proxy
// (a separate `vproxy simple` process, so only its memory is measured) must
// hold the excess in the kernel, not in its heap, then deliver every byte.

const MB = 1024 * 1024;
const OFFERED = 500 * MB;
const LIMIT = 64 * MB;

type Direction = 'client -> backend' | 'backend -> client';

let backend: Awaited<ReturnType<typeof startServer>>;
let accepted: Socket[] = [];
let cli: RunningCli;
let proxyPort: number;

beforeAll(async () => {
  backend = await startServer((s) => {
    s.pause();
    accepted.push(s);
  });
  const started = await startCli(
    ['simple', '--bind', '127.0.0.1:0', '--backend', `127.0.0.1:${backend.port}`],
    /listening on tcp:\/\/127\.0\.0\.1:(\d+)/,
  );
  cli = started.running;
  proxyPort = Number(started.match[1]);
});

afterAll(async () => {
  expect(await cli.stop()).toBe(0);
  await stopServer(backend.server, backend.sockets);
});

describe.each<Direction>(['client -> backend', 'backend -> client'])('%s', (direction) => {
  it('keeps proxy memory growth under 64 MiB and loses nothing', async () => {
    accepted = [];
    const client = connect(proxyPort, '127.0.0.1');
    await once(client, 'connect');
    // The proxy dials the backend as soon as it accepts: wait for that leg.
    while (accepted.length === 0) await new Promise((r) => setTimeout(r, 5));
    const server = accepted[0] as Socket;
    await new Promise((r) => setTimeout(r, 100));

    const pid = cli.child.pid as number;
    const baseline = rssBytes(pid);
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssBytes(pid));
    }, 20);

    const [writer, reader] =
      direction === 'client -> backend' ? [client, server] : [server, client];
    reader.pause();
    const sent = writeRandom(writer, OFFERED);
    // Stall for a while: only socket buffers may fill up.
    await new Promise((r) => setTimeout(r, 1500));
    const stalledPeak = peak;
    const received = hashUntilEnd(reader);
    reader.resume();
    const [sentHash, got] = await Promise.all([sent, received]);
    clearInterval(sampler);
    peak = Math.max(peak, rssBytes(pid));

    console.log(
      `${direction}: proxy RSS growth ${((stalledPeak - baseline) / MB).toFixed(1)} MiB while stalled, ` +
        `${((peak - baseline) / MB).toFixed(1)} MiB peak over 500 MB`,
    );
    expect(got.bytes).toBe(OFFERED);
    expect(got.sha256).toBe(sentHash);
    expect(stalledPeak - baseline).toBeLessThan(LIMIT);
    expect(peak - baseline).toBeLessThan(LIMIT);
    reader.end();
    client.destroy();
    server.destroy();
  }, 120_000);
});
