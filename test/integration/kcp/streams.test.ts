import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAddress } from '../../../src/fd/address.js';
import type { ServerFD } from '../../../src/fd/server-fd.js';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import type { MuxServerFD, MuxTransport } from '../../../transports/mux/index.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { hashUntilEnd, writeRandom } from '../../helpers/net.js';
import { LossyRelay } from './lossy-relay.js';

// Many mux streams over one KCP session, over real UDP on loopback (through a 1%-loss relay).

const KiB = 1024;
const registry = createDefaultRegistry();
let baseline: string[];
let server: ServerFD;
let relay: LossyRelay;

beforeAll(async () => {
  baseline = snapshotSockets();
  server = await registry.listen('kcp://127.0.0.1:0');
  server.on('connection', (fd) => {
    fd.on('error', () => {});
    fd.pipe(fd);
  });
  relay = await LossyRelay.start(server.address().port, Number(process.env.KCP_LOSS ?? 0.01));
});

afterAll(async () => {
  await server.close();
  await relay.close();
  await expectNoLeakedSockets(baseline, 8000);
});

async function roundTrip(fd: StreamFD, bytes: number): Promise<void> {
  const [sent, received] = await Promise.all([writeRandom(fd, bytes), hashUntilEnd(fd)]);
  expect(received.bytes).toBe(bytes);
  expect(received.sha256).toBe(sent);
}

describe('kcp:// streams over one session', () => {
  it('carries 100 concurrent streams of 256 KiB each, all byte-exact, on one session', async () => {
    const address = `kcp://127.0.0.1:${relay.port}?session-idle=200`;
    const streams = await Promise.all(Array.from({ length: 100 }, () => registry.connect(address)));
    const pool = (registry.resolve('kcp') as MuxTransport).pool(parseAddress(address));
    expect(pool?.size).toBe(1);
    expect((server as MuxServerFD).sessionCount).toBe(1);
    await Promise.all(streams.map((fd) => roundTrip(fd, 256 * KiB)));
    for (const fd of streams) if (!fd.destroyed) await once(fd, 'close');
    expect(streams.every((fd) => fd.kind === 'kcp')).toBe(true);
  }, 30_000);

  it('a reset stream does not disturb its siblings', async () => {
    const address = `kcp://127.0.0.1:${relay.port}?session-idle=200`;
    const [a, b, victim] = await Promise.all([
      registry.connect(address),
      registry.connect(address),
      registry.connect(address),
    ]);
    if (a === undefined || b === undefined || victim === undefined) throw new Error('no streams');
    victim.on('error', () => {});
    victim.write(Buffer.alloc(64 * KiB, 1));
    const transfers = Promise.all([roundTrip(a, 2048 * KiB), roundTrip(b, 2048 * KiB)]);
    setTimeout(() => (victim as StreamFD & { resetAndDestroy(): void }).resetAndDestroy(), 20);
    await transfers;
    expect(victim.destroyed).toBe(true);
  }, 30_000);
});
