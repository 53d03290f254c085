import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { KCP_CRYPTS } from '../../../transports/kcp/crypto.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { LossyRelay } from './lossy-relay.js';

// What an observer on the wire sees of a kcp:// transfer. With key=, no
// datagram may carry any 16-byte run of the plaintext (a seal() that only
// authenticates would leak all of it); without key=, the same tap must find
// the plaintext, which shows the check can see what it looks for.

const WINDOW = 16;
const registry = createDefaultRegistry();
let baseline: string[];

beforeAll(() => {
  baseline = snapshotSockets();
});

afterAll(async () => {
  await expectNoLeakedSockets(baseline, 8000);
});

/** Every 16-byte window of `plain`, as latin1 strings (one byte per char) for Set lookups. */
function windowsOf(plain: Buffer): Set<string> {
  const set = new Set<string>();
  for (let i = 0; i + WINDOW <= plain.length; i++) {
    set.add(plain.toString('latin1', i, i + WINDOW));
  }
  return set;
}

/** How many datagrams contain at least one window of the plaintext. */
function leakingDatagrams(datagrams: readonly Buffer[], windows: Set<string>): number {
  let leaking = 0;
  for (const d of datagrams) {
    for (let i = 0; i + WINDOW <= d.length; i++) {
      if (windows.has(d.toString('latin1', i, i + WINDOW))) {
        leaking++;
        break;
      }
    }
  }
  return leaking;
}

/** Echo `plain` through kcp:// (`query`) via a tapping relay; returns every datagram seen. */
async function transferTapped(query: string, plain: Buffer): Promise<Buffer[]> {
  const server = await registry.listen(`kcp://127.0.0.1:0${query}`);
  server.on('connection', (fd) => {
    fd.on('error', () => {});
    fd.pipe(fd);
  });
  const relay = await LossyRelay.start(server.address().port, 0);
  const wire: Buffer[] = [];
  // Copies: the sender may reuse its buffer after the send callback.
  relay.tap = (d) => wire.push(Buffer.from(d));
  const sep = query === '' ? '?' : '&';
  const client: StreamFD = await registry.connect(
    `kcp://127.0.0.1:${relay.port}${query}${sep}session-idle=50`,
  );
  try {
    const parts: Buffer[] = [];
    let got = 0;
    const echoed = new Promise<void>((resolve, reject) => {
      client.on('data', (c: Buffer) => {
        parts.push(c);
        got += c.length;
        if (got >= plain.length) resolve();
      });
      client.once('error', reject);
    });
    client.end(plain);
    await echoed;
    // The transfer really happened, so the tap had something to look at.
    expect(Buffer.concat(parts)).toEqual(plain);
    if (!client.destroyed) await once(client, 'close');
  } finally {
    client.destroy();
    await server.close();
    await relay.close();
  }
  return wire;
}

describe('kcp:// encryption on the wire', () => {
  const plain = randomBytes(256 * 1024);
  const windows = windowsOf(plain);

  it.each(['', ...KCP_CRYPTS.map((c) => `&crypt=${c}`)])(
    'with key=%s, no datagram carries any 16-byte window of the plaintext',
    async (crypt) => {
      const wire = await transferTapped(`?key=wire%20test${crypt}`, plain);
      const bytes = wire.reduce((n, d) => n + d.length, 0);
      // At least the plaintext went out and came back through the relay.
      expect(bytes).toBeGreaterThan(2 * plain.length);
      expect(leakingDatagrams(wire, windows)).toBe(0);
    },
    20_000,
  );

  it('without key=, the same tap finds the plaintext (the check is not blind)', async () => {
    const wire = await transferTapped('', plain);
    // Almost every data-carrying datagram leaks; a few hundred at least.
    expect(leakingDatagrams(wire, windows)).toBeGreaterThan(100);
  }, 20_000);
});
