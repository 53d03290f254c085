import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { ServerFD } from '../../../src/fd/server-fd.js';
import { ProxyEngine } from '../../../src/proxy/proxy.js';
import { RoundRobinPicker } from '../../../src/proxy/round-robin.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { useEchoBackend } from '../../helpers/echo-fixture.js';
import { hashUntilEnd, writeRandom } from '../../helpers/net.js';
import { LossyRelay } from './lossy-relay.js';

// tcp → proxy → kcp → proxy → tcp echo, sha256-checked both ways, over real UDP on loopback:
// 100 MB lossless, 100 MB with 5% of the datagrams dropped at random in each direction by a
// relay, and 20 MB encrypted with 5% loss.

const MB = 1024 * 1024;
const registry = createDefaultRegistry();
const echo = useEchoBackend(8000);

interface Chain {
  readonly front: ServerFD;
  readonly engines: ProxyEngine[];
  readonly relay: LossyRelay | null;
}

/** kcp server (→ tcp echo) and a tcp front (→ kcp, through the relay when loss > 0). */
async function chain(loss: number | null, query: string): Promise<Chain> {
  const kcpServer = await registry.listen(`kcp://127.0.0.1:0${query}`);
  const back = new ProxyEngine({
    server: kcpServer,
    registry,
    picker: new RoundRobinPicker([`tcp://127.0.0.1:${echo.port}`]),
  });
  const relay = loss === null ? null : await LossyRelay.start(kcpServer.address().port, loss);
  const kcpPort = relay?.port ?? kcpServer.address().port;
  const front = await registry.listen('tcp://127.0.0.1:0');
  const forward = new ProxyEngine({
    server: front,
    registry,
    picker: new RoundRobinPicker([
      `kcp://127.0.0.1:${kcpPort}${query}${query ? '&' : '?'}session-idle=50`,
    ]),
  });
  return { front, engines: [forward, back], relay };
}

async function moveThrough(c: Chain, bytes: number): Promise<number> {
  const started = performance.now();
  const client = await registry.connect(`tcp://127.0.0.1:${c.front.address().port}`);
  const [sent, received] = await Promise.all([writeRandom(client, bytes), hashUntilEnd(client)]);
  const seconds = (performance.now() - started) / 1000;
  expect(received.bytes).toBe(bytes);
  expect(received.sha256).toBe(sent);
  if (!client.destroyed) await once(client, 'close');
  for (const engine of c.engines) await engine.close();
  await c.relay?.close();
  return seconds;
}

describe('tcp → kcp → tcp through the proxy engine', () => {
  it('moves 100 MB each way byte-exact on a clean link', async () => {
    const c = await chain(null, '');
    const s = await moveThrough(c, 100 * MB);
    console.log(
      `kcp lossless: 100 MB each way in ${s.toFixed(2)} s = ${((100 * 8) / s).toFixed(0)} Mbit/s per direction`,
    );
    expect(c.engines[0]?.stats().bytesIn).toBe(100 * MB);
  }, 60_000);

  it('moves 100 MB each way byte-exact with 5% loss in both directions', async () => {
    const c = await chain(0.05, '?ack-repeat=1');
    const relay = c.relay as LossyRelay;
    const s = await moveThrough(c, 100 * MB);
    console.log(
      `kcp 5% loss: 100 MB each way in ${s.toFixed(2)} s = ${((100 * 8) / s).toFixed(0)} Mbit/s per direction; relay dropped ${relay.dropped} of ${relay.dropped + relay.forwarded}`,
    );
    expect(relay.dropped).toBeGreaterThan(0);
    // 5-7 s with pacing (the default); classic took 35-48 s here, 68 s once under load, and
    // pacing got stuck in 2 runs of 3 before 14b1f89: the bound is for a stuck session.
  }, 150_000);

  it('moves 20 MB with 5% loss and encryption, with the reference (classic) sender', async () => {
    const c = await chain(0.05, '?key=s3cret&mode=fast4&congestion=classic');
    const relay = c.relay as LossyRelay;
    const s = await moveThrough(c, 20 * MB);
    const total = relay.dropped + relay.forwarded;
    console.log(
      `kcp 5% loss + aes-128-gcm (key=): 20 MB each way in ${s.toFixed(2)} s; relay dropped ${relay.dropped} of ${total}`,
    );
    // The loss was really injected, at about the rate the name says (tens of
    // thousands of datagrams: a binomial 5 % lands well inside 3-8 %).
    expect(total).toBeGreaterThan(10_000);
    expect(relay.dropped / total).toBeGreaterThan(0.03);
    expect(relay.dropped / total).toBeLessThan(0.08);
  }, 60_000);
});
