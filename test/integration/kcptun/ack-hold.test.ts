import { afterEach, describe, expect, it } from 'vitest';
import { CMD_PUSH, OVERHEAD, writeHeader } from '../../../transports/kcp/arq/wire.js';
import { KcpScheduler, type SchedulerClock } from '../../../transports/kcp/session/scheduler.js';
import { createPacketCrypt, deriveKey } from '../../../transports/kcpgo-crypt/index.js';
import { KcptunEndpoint } from '../../../transports/kcptun/endpoint.js';

// kcp-go's acknodelay on our kcptun endpoint, fed datagrams directly (crypt null-raw, no FEC:
// the datagram is the KCP packet) on a scheduler whose time and timers the test drives:
// off, ACKs wait for the session's interval tick, or go once a datagram's worth is pending;
// on, each poll phase's input is acknowledged in the check phase after it.

/** Time stands still; the one timer and the check phase run when the test says. */
class ManualClock implements SchedulerClock {
  t = 1000;
  timer: (() => void) | null = null;
  immediates: (() => void)[] = [];
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void): unknown {
    this.timer = fn;
    return fn;
  }
  clearTimer(handle: unknown): void {
    if (this.timer === handle) this.timer = null;
  }
  immediate(fn: () => void): void {
    this.immediates.push(fn);
  }
  checkPhase(): void {
    for (const fn of this.immediates.splice(0)) fn();
  }
  tick(ms: number): void {
    this.t += ms;
    const fn = this.timer;
    this.timer = null;
    fn?.();
  }
}

const INTERVAL = 10;
const MTU = 1350;
const endpoints: KcptunEndpoint[] = [];
afterEach(async () => {
  for (const ep of endpoints.splice(0)) await ep.abort();
});

async function endpoint(ackNoDelay: boolean, clock: ManualClock): Promise<KcptunEndpoint> {
  const ep = await KcptunEndpoint.listen(
    '127.0.0.1',
    0,
    {
      session: {
        kcp: { nodelay: true, interval: INTERVAL, resend: 2, noCwnd: true, mtu: MTU, rcvWnd: 1024 },
        idleTimeoutMs: 0,
        closeTimeoutMs: 1000,
      },
      crypt: createPacketCrypt('null', deriveKey('k')),
      dataShards: 0,
      parityShards: 0,
      maxSessions: 4,
      sockbuf: 0,
      ackNoDelay,
      scheduler: new KcpScheduler(clock),
    },
    () => {}, // no reader: the data stays in the block, only its ACKs matter here
  );
  endpoints.push(ep);
  return ep;
}

const CONV = 0x4242;
/** Where the endpoint's ACKs go: the discard port, nobody reads them. */
const FROM = { address: '127.0.0.1', port: 9 };

function push(sn: number): Buffer {
  const b = Buffer.alloc(OVERHEAD + 16);
  writeHeader(b, 0, CONV, CMD_PUSH, 0, 1024, 0, sn, 0, 16);
  return b;
}

/** One poll phase's worth of datagrams, sn from `first`, then the check phase. */
function feed(ep: KcptunEndpoint, clock: ManualClock, first: number, n: number): void {
  for (let sn = first; sn < first + n; sn++) ep.receive(push(sn), FROM);
  clock.checkPhase();
}

describe('kcptun endpoint: acknodelay', () => {
  it('off: ACKs wait for the tick, or leave early once they fill a datagram', async () => {
    const clock = new ManualClock();
    const ep = await endpoint(false, clock);
    feed(ep, clock, 0, 10);
    expect(ep.sessionCount).toBe(1);
    expect(ep.stats.datagramsOut).toBe(0);
    feed(ep, clock, 10, 10);
    expect(ep.stats.datagramsOut).toBe(0);
    clock.tick(INTERVAL);
    expect(ep.stats.datagramsOut).toBe(1); // 20 ACKs in one datagram
    // A datagram's worth of ACKs (56 of 24 bytes in 1350) pending: flushed without the tick,
    // with what came after it in the same poll phase (61 ACKs: two datagrams).
    feed(ep, clock, 20, Math.floor(MTU / OVERHEAD) + 5);
    expect(ep.stats.datagramsOut).toBe(3);
  });

  it('on: every poll phase of input is acknowledged in the check phase after it', async () => {
    const clock = new ManualClock();
    const ep = await endpoint(true, clock);
    feed(ep, clock, 0, 10);
    expect(ep.stats.datagramsOut).toBe(1);
    feed(ep, clock, 10, 3);
    expect(ep.stats.datagramsOut).toBe(2);
  });
});
