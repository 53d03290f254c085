import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSimpleDatagram, type SimpleDatagramProxy } from '../../apps/simple/run-datagram.js';
import { createDefaultRegistry } from '../../transports/default-registry.js';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { expectNoLeakedSockets, snapshotSockets } from '../helpers/handles.js';
import {
  blast,
  closeSocket,
  startUdpEcho,
  type UdpEcho,
  udpClient,
  udpRequest,
} from '../helpers/udp.js';

// UDP through stream tunnels, as two `vproxy simple`s run them: udp → (kcp | ws |
// mux+tls) → udp, one tunnel stream per flow, datagrams length-framed. 100,000
// datagrams of random sizes each way, every one accounted for and compared.

const registry = createDefaultRegistry();
let baseline: string[];
let echo: UdpEcho;
let certs: TestCerts;

beforeAll(async () => {
  baseline = snapshotSockets();
  echo = await startUdpEcho();
  certs = makeTestCerts();
});

afterAll(async () => {
  await echo.close();
  await expectNoLeakedSockets(baseline);
});

interface Tunnel {
  near: SimpleDatagramProxy;
  far: SimpleDatagramProxy;
  close(): Promise<void>;
}

async function tunnel(
  listen: string,
  dial: (port: number) => string,
  nearIdleMs = 30_000,
): Promise<Tunnel> {
  const far = await runSimpleDatagram(registry, {
    bind: listen,
    backends: [`udp://127.0.0.1:${echo.port}`],
    udpIdleTimeoutMs: 30_000,
    connectTimeoutMs: 5000,
  });
  const near = await runSimpleDatagram(registry, {
    bind: 'udp://127.0.0.1:0',
    backends: [dial(far.address().port)],
    udpIdleTimeoutMs: nearIdleMs,
    connectTimeoutMs: 5000,
  });
  return {
    near,
    far,
    close: async () => {
      await near.close();
      await far.close();
    },
  };
}

const KINDS = [
  {
    name: 'kcp',
    listen: () => 'kcp://127.0.0.1:0?mode=fast3',
    dial: (p: number) => `kcp://127.0.0.1:${p}?mode=fast3`,
  },
  {
    name: 'ws',
    listen: () => 'ws://127.0.0.1:0/udp',
    dial: (p: number) => `ws://127.0.0.1:${p}/udp`,
  },
  {
    name: 'mux+tls',
    listen: () => `mux+tls://127.0.0.1:0?cert=${certs.cert}&cert-key=${certs.key}`,
    dial: (p: number) => `mux+tls://localhost:${p}?ca=${certs.caCert}`,
  },
] as const;

describe('udp through stream tunnels', () => {
  for (const kind of KINDS) {
    it(`udp → ${kind.name} → udp: 100,000 datagrams up to 1,400 bytes, all back unchanged`, async () => {
      const t = await tunnel(kind.listen(), kind.dial);
      const client = await udpClient();
      try {
        const result = await blast(client, t.near.address().port, 100_000);
        expect(result).toEqual({
          sent: 100_000,
          received: 100_000,
          mismatched: 0,
          duplicates: 0,
          lost: 0,
        });
        expect(t.near.stats()).toMatchObject({ flows: 1, datagramsIn: 100_000, dropped: 0 });
        expect(t.far.stats()).toMatchObject({ flows: 1, datagramsOut: 100_000, dropped: 0 });
      } finally {
        await closeSocket(client);
        await t.close();
      }
    }, 120_000);
  }

  it('one stream per flow; an idle flow closes its stream, and the far side follows', async () => {
    const t = await tunnel(KINDS[1].listen(), KINDS[1].dial, 300);
    const a = await udpClient();
    const b = await udpClient();
    try {
      expect((await udpRequest(a, t.near.address().port, 'a'))?.toString()).toBe('a');
      expect((await udpRequest(b, t.near.address().port, 'b'))?.toString()).toBe('b');
      expect(t.near.stats().flows).toBe(2);
      expect(t.far.stats().flows).toBe(2);
      const deadline = Date.now() + 3000;
      while (t.near.stats().flows + t.far.stats().flows > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(t.near.stats()).toMatchObject({ flows: 0, expiredFlows: 2 });
      expect(t.far.stats().flows).toBe(0);
      // A new datagram after expiry opens a new flow.
      expect((await udpRequest(a, t.near.address().port, 'again'))?.toString()).toBe('again');
    } finally {
      await closeSocket(a);
      await closeSocket(b);
      await t.close();
    }
  });
});
