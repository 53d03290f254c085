import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecurityGroup } from '../../../src/lb/security-group.js';
import { ServerGroup } from '../../../src/lb/server-group.js';
import { UdpLB } from '../../../src/lb/udp-lb.js';
import { Upstream } from '../../../src/lb/upstream.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import {
  blast,
  closeSocket,
  startUdpEcho,
  type UdpEcho,
  udpClient,
  udpRequest,
} from '../../helpers/udp.js';

// UdpLB with real UDP sockets on loopback: wrr per flow, source stickiness, health
// (udp probe), security group per flow, idle expiry, the flow bound under a flood
// from 10,000 source ports, oversize drops, and 100,000 datagrams accounted for.

const registry = createDefaultRegistry();
let baseline: string[];
let echoA: UdpEcho;
let echoB: UdpEcho;

beforeAll(async () => {
  baseline = snapshotSockets();
  echoA = await startUdpEcho('A:');
  echoB = await startUdpEcho('B:');
});

afterAll(async () => {
  await echoA.close();
  await echoB.close();
  await expectNoLeakedSockets(baseline);
});

interface Rig {
  lb: UdpLB;
  group: ServerGroup;
  port: number;
  close(): Promise<void>;
}

async function rig(
  options: {
    method?: 'wrr' | 'source';
    check?: 'none' | 'udp';
    maxFlows?: number;
    idleTimeoutMs?: number;
    maxDatagram?: number;
    securityGroup?: SecurityGroup;
    backends?: readonly UdpEcho[];
    /** Options of the listening address (`rcvbuf=…&sndbuf=…`). */
    query?: string;
  } = {},
): Promise<Rig> {
  const group = new ServerGroup({
    name: 'g',
    method: options.method ?? 'wrr',
    registry,
    healthCheck: {
      // Seconds: a live backend's probe must not time out in a stalled process (two
      // in a row take it DOWN); a dead one fails at once (the probe's socket is
      // connected, so the ICMP port-unreachable comes back as ECONNREFUSED).
      timeoutMs: 2000,
      periodMs: 100,
      up: 1,
      down: 2,
      check: options.check === 'udp' ? { kind: 'udp', payload: '00' } : { kind: 'none' },
    },
  });
  const backends = options.backends ?? [echoA, echoB];
  for (const [i, b] of backends.entries()) group.add(`s${i}`, `udp://127.0.0.1:${b.port}`);
  const upstream = new Upstream('u');
  upstream.add(group);
  const lb = await UdpLB.start({
    name: 'dns',
    address: `udp://127.0.0.1:0${options.query === undefined ? '' : `?${options.query}`}`,
    upstream,
    registry,
    ...(options.maxFlows === undefined ? {} : { maxFlows: options.maxFlows }),
    ...(options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs }),
    ...(options.maxDatagram === undefined ? {} : { maxDatagram: options.maxDatagram }),
    ...(options.securityGroup === undefined ? {} : { securityGroup: options.securityGroup }),
  });
  return {
    lb,
    group,
    port: lb.bound().port,
    close: async () => {
      await lb.close();
      group.onClose();
    },
  };
}

/**
 * Seconds for an answer that must come: with 1 s (the helper's default) a round trip a
 * loaded machine stretches returns null, and its late answer is taken for the next one's.
 */
const ANSWER_MS = 5000;

async function tagOf(port: number, ms = ANSWER_MS): Promise<string | null> {
  const client = await udpClient();
  try {
    const answer = await udpRequest(client, port, 'hello', ms);
    return answer === null ? null : answer.subarray(0, 2).toString();
  } finally {
    await closeSocket(client);
  }
}

async function until(cond: () => boolean, ms = 5000, state?: () => unknown): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) {
      throw new Error(`condition not met in time ${state ? JSON.stringify(state()) : ''}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('UdpLB', () => {
  it('wrr alternates new flows between backends; a flow stays on its backend', async () => {
    const r = await rig();
    try {
      const tags: (string | null)[] = [];
      for (let i = 0; i < 6; i++) tags.push(await tagOf(r.port));
      // Equal weights: strict alternation (which one starts is the wrr tie offset).
      for (let i = 1; i < tags.length; i++) expect(tags[i]).not.toBe(tags[i - 1]);
      expect(new Set(tags)).toEqual(new Set(['A:', 'B:']));
      // One client, many datagrams: one flow, one backend.
      const client = await udpClient();
      const first = await udpRequest(client, r.port, 'x', ANSWER_MS);
      for (let i = 0; i < 5; i++) {
        const again = await udpRequest(client, r.port, 'x', ANSWER_MS);
        expect(again?.subarray(0, 2)).toEqual(first?.subarray(0, 2));
      }
      await closeSocket(client);
      const s = r.lb.stats();
      expect(s.totalFlows).toBe(7);
      expect(s.datagramsIn).toBe(12);
      expect(s.datagramsOut).toBe(12);
      expect(s.bytesIn).toBe(6 * 5 + 6);
    } finally {
      await r.close();
    }
  });

  it('source keeps one client IP on one backend across flows', async () => {
    const r = await rig({ method: 'source' });
    try {
      const tags = new Set<string | null>();
      for (let i = 0; i < 6; i++) tags.add(await tagOf(r.port));
      expect(tags.size).toBe(1);
    } finally {
      await r.close();
    }
  });

  it('a udp health probe takes a dead backend out and brings it back', async () => {
    const dead = await startUdpEcho('C:');
    const r = await rig({ check: 'udp', backends: [echoA, dead] });
    try {
      const [, s1] = r.group.servers();
      await until(() => s1?.healthy === true);
      await dead.close();
      await until(() => s1?.healthy === false);
      for (let i = 0; i < 4; i++) expect(await tagOf(r.port)).toBe('A:');
    } finally {
      await r.close();
    }
  });

  it('the security group is checked per new flow and refusals are counted', async () => {
    const sg = new SecurityGroup('no-local', 'allow');
    sg.addRule({
      name: 'deny-lo',
      network: '127.0.0.0/8',
      protocol: 'udp',
      ports: '1-65535',
      action: 'deny',
    });
    const r = await rig({ securityGroup: sg });
    try {
      // Refused: no answer is expected, so no need to wait seconds for it.
      expect(await tagOf(r.port, 1000)).toBeNull();
      expect(r.lb.stats().refused).toBe(1);
      expect(r.lb.stats().flows).toBe(0);
    } finally {
      await r.close();
    }
  });

  it('idle flows expire and release their backend socket', async () => {
    // Opened under a long idle timeout, then lowered: with 200 ms from the start, a
    // process stalled during the round trip (a loaded machine) could expire the flow
    // before the count below is read.
    const r = await rig({ idleTimeoutMs: 60_000 });
    try {
      // Either backend: which one wrr starts with is its tie offset.
      expect(['A:', 'B:']).toContain(await tagOf(r.port));
      expect(r.lb.stats().flows).toBe(1);
      r.lb.update({ idleTimeoutMs: 200 });
      await until(() => r.lb.stats().flows === 0, 5000);
      expect(r.lb.stats().expiredFlows).toBe(1);
      for (const server of r.group.servers()) expect(server.activeConnections).toBe(0);
    } finally {
      await r.close();
    }
  });

  it('two clients on one port number from two addresses are two flows, each answered as its own', async () => {
    // The per-datagram index is by port: the second address must still get its own
    // flow (and backend), before and after the first one expires.
    // A long idle timeout while the flows must stay (each gap between datagrams is a round
    // trip, which a loaded machine can stretch past 300 ms), a short one to see them expire.
    const r = await rig({ method: 'source', idleTimeoutMs: 60_000 });
    const a = await udpClient();
    const b = createSocket('udp4');
    try {
      b.bind(a.address().port, '127.0.0.2');
      await once(b, 'listening');
      const fromA = await udpRequest(a, r.port, 'from-a', ANSWER_MS);
      const fromB = await udpRequest(b, r.port, 'from-b', ANSWER_MS);
      expect(fromA?.subarray(2).toString()).toBe('from-a');
      expect(fromB?.subarray(2).toString()).toBe('from-b');
      const clients = r.lb.flows().map((f) => f.client);
      expect(clients.sort()).toEqual(
        [`127.0.0.1:${a.address().port}`, `127.0.0.2:${a.address().port}`].sort(),
      );
      // Each keeps its own flow (source: its own backend) datagram after datagram.
      for (let i = 0; i < 5; i++) {
        expect((await udpRequest(b, r.port, 'b', ANSWER_MS))?.subarray(0, 2)).toEqual(
          fromB?.subarray(0, 2),
        );
        expect((await udpRequest(a, r.port, 'a', ANSWER_MS))?.subarray(0, 2)).toEqual(
          fromA?.subarray(0, 2),
        );
      }
      expect(r.lb.stats().totalFlows).toBe(2);
      // Both idle out; the next datagram from the second address opens a new flow (under
      // the long timeout again, so it is still there when listed).
      r.lb.update({ idleTimeoutMs: 300 });
      await until(() => r.lb.stats().flows === 0, 5000);
      expect(r.lb.stats().expiredFlows).toBe(2);
      r.lb.update({ idleTimeoutMs: 60_000 });
      expect((await udpRequest(b, r.port, 'again', ANSWER_MS))?.subarray(2).toString()).toBe(
        'again',
      );
      expect(r.lb.flows().map((f) => f.client)).toEqual([`127.0.0.2:${a.address().port}`]);
    } finally {
      await closeSocket(a);
      await closeSocket(b);
      await r.close();
    }
  });

  it('oversize datagrams are dropped and counted, others still pass', async () => {
    const r = await rig({ maxDatagram: 1500 });
    try {
      const client = await udpClient();
      expect(await udpRequest(client, r.port, Buffer.alloc(9000), 300)).toBeNull();
      // 1,400 + the backend's 2-byte tag: under the bound both ways.
      const ok = await udpRequest(client, r.port, Buffer.alloc(1400), ANSWER_MS);
      await closeSocket(client);
      expect(ok).not.toBeNull();
      expect(r.lb.stats().droppedOversize).toBe(1);
    } finally {
      await r.close();
    }
  });

  it('a flood from 10,000 source ports: the flow bound holds, refusals counted, a legit flow served', async () => {
    const r = await rig({ maxFlows: 200, idleTimeoutMs: 60_000 });
    const legit = await udpClient();
    try {
      expect(await udpRequest(legit, r.port, 'legit', ANSWER_MS)).not.toBeNull();
      const heapBefore = process.memoryUsage().heapUsed;
      // 10,000 distinct source ports: every flood socket stays open until the end (a
      // closed one's port could be reused and land on an existing flow), 100 new ones
      // per batch, and each batch is taken by the listener before the next: its socket
      // buffer, not the flow bound, would otherwise be what drops.
      const flood: Socket[] = [];
      let sent = 0;
      try {
        for (let batch = 0; batch < 100; batch++) {
          const sockets: Socket[] = [];
          for (let i = 0; i < 100; i++) {
            const s = createSocket('udp4');
            s.bind(0, '127.0.0.1');
            sockets.push(s);
            flood.push(s);
          }
          await Promise.all(sockets.map((s) => once(s, 'listening')));
          for (const s of sockets) {
            s.send('flood', r.port, '127.0.0.1');
            sent++;
          }
          await until(
            () => r.lb.stats().datagramsIn + r.lb.stats().refused >= sent + 1,
            5000,
            () => ({ sent, ...r.lb.stats() }),
          );
        }
        expect(new Set(flood.map((s) => s.address().port)).size).toBe(10_000);
      } finally {
        await Promise.all(flood.map(closeSocket));
      }
      expect(sent).toBe(10_000);
      const s = r.lb.stats();
      expect(s.flows).toBe(200);
      // 10,000 flood flows + the legit one, 200 admitted.
      expect(s.refused).toBe(10_001 - 200);
      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
      // The legit client's flow was open before the flood: still served.
      expect(await udpRequest(legit, r.port, 'still here', ANSWER_MS)).not.toBeNull();
    } finally {
      await closeSocket(legit);
      await r.close();
    }
  }, 60_000);

  // SO_RCVBUF is capped by net.core.rmem_max (root too): below 1 MiB the burst cannot fit.
  const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
  it.skipIf(rmemMax < 1 << 20)(
    "a flow's backend socket takes the listener's rcvbuf: a burst of 400 answers of 1,400 bytes all arrive",
    async () => {
      // A backend that answers one datagram with 400 at once, all queued on the flow's
      // backend socket before the balancer reads any (one synchronous loop on this
      // thread). The OS default buffer (~208 KiB) holds about 90 of them.
      const backend = await udpClient();
      const stub: UdpEcho = {
        port: backend.address().port,
        received: 0,
        close: () => closeSocket(backend),
      };
      const r = await rig({ backends: [stub], query: 'rcvbuf=4194304&sndbuf=4194304' });
      const client = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
      client.bind(0, '127.0.0.1');
      await once(client, 'listening');
      try {
        const asked = once(backend, 'message') as Promise<[Buffer, RemoteInfo]>;
        client.send('go', r.port, '127.0.0.1');
        const [, from] = await asked;
        // Connected: each send goes out synchronously (no address lookup deferring it).
        backend.connect(from.port, from.address);
        await once(backend, 'connect');
        let got = 0;
        client.on('message', (d) => {
          if (d.length === 1400) got++;
        });
        const answer = Buffer.alloc(1400, 0x5a);
        for (let i = 0; i < 400; i++) backend.send(answer);
        await until(
          () => got === 400,
          5000,
          () => ({ got, stats: r.lb.stats() }),
        );
        expect(r.lb.stats().datagramsOut).toBe(400);
      } finally {
        await closeSocket(client);
        await r.close();
        await stub.close();
      }
    },
  );

  it('100,000 datagrams of random sizes up to 1,400 bytes: every one back, unchanged', async () => {
    const plain = await startUdpEcho();
    const r = await rig({ backends: [plain] });
    const client = await udpClient();
    try {
      const result = await blast(client, r.port, 100_000);
      expect(result).toEqual({
        sent: 100_000,
        received: 100_000,
        mismatched: 0,
        duplicates: 0,
        lost: 0,
      });
      expect(r.lb.stats().datagramsIn).toBe(100_000);
      expect(r.lb.stats().datagramsOut).toBe(100_000);
    } finally {
      await closeSocket(client);
      await r.close();
      await plain.close();
    }
  }, 60_000);
});
