import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMethod, type Selectable } from '../../../src/lb/selection-method.js';
import type { Server } from '../../../src/lb/server.js';
import type { ServerGroup } from '../../../src/lb/server-group.js';
import { ElsewherePusher } from '../../../src/workers/fleet-shares.js';
import type { Elsewhere } from '../../../src/workers/protocol.js';
import { STATS_PUSH_MS } from '../../../src/workers/protocol.js';
import type { WorkerProcess } from '../../../src/workers/supervisor.js';

// wlc across worker processes: a worker's wlc counts the connections main says
// the rest of the daemon holds (`elsewhere`), and main tells each worker its
// view only when it changed, at most once per STATS_PUSH_MS.

afterEach(() => {
  vi.useRealTimers();
});

interface Fake extends Selectable {
  activeConnections: number;
  elsewhere: number;
}

const fake = (name: string, weight = 10): Fake => ({
  name,
  weight,
  available: true,
  activeConnections: 0,
  elsewhere: 0,
});

describe('wlc with connections held elsewhere', () => {
  it('compares this copy’s live connections plus elsewhere', () => {
    const wlc = createMethod<Fake>('wlc', () => 0);
    const a = fake('a');
    const b = fake('b');
    // Locally a is empty, but the other workers hold 3 on it: b (1 here) is the least loaded.
    a.elsewhere = 3;
    b.activeConnections = 1;
    for (let i = 0; i < 5; i++) expect(wlc.pick([a, b], null)).toBe(b);
    // With weights: a (weight 30) with 3 elsewhere is at 3/30, below b's 1/10.
    const heavy = fake('heavy', 30);
    heavy.elsewhere = 2;
    expect(wlc.pick([heavy, b], null)).toBe(heavy);
  });

  it('is unchanged without elsewhere (one process)', () => {
    const wlc = createMethod<Selectable>('wlc', () => 0);
    const a = { name: 'a', weight: 10, available: true, activeConnections: 2 };
    const b = { name: 'b', weight: 10, available: true, activeConnections: 1 };
    expect(wlc.pick([a, b], null)).toBe(b);
  });
});

describe('ElsewherePusher', () => {
  /** Main's servers of one wlc group, with live counts; two workers holding some of them. */
  function setup() {
    const s1 = { name: 's1', addressText: 'tcp://127.0.0.1:1', activeConnections: 0 };
    const s2 = { name: 's2', addressText: 'tcp://127.0.0.1:2', activeConnections: 0 };
    const group = { name: 'g', servers: () => [s1, s2] } as unknown as ServerGroup;
    const w1 = { name: 'w1' } as WorkerProcess;
    const w2 = { name: 'w2' } as WorkerProcess;
    const held = new Map<WorkerProcess, Map<Server, number>>([
      [w1, new Map()],
      [w2, new Map()],
    ]);
    const sent: [string, Elsewhere][] = [];
    const pusher = new ElsewherePusher({
      groups: () => [group],
      workers: () => [...held],
      send: async (worker, servers) => {
        sent.push([worker.name, servers]);
        return true;
      },
    });
    /** Worker `w` holds `n` on `s` (main's server counts it too). */
    const hold = (w: WorkerProcess, s: typeof s1, n: number) => {
      const m = held.get(w) as Map<Server, number>;
      s.activeConnections += n - (m.get(s as unknown as Server) ?? 0);
      m.set(s as unknown as Server, n);
    };
    return { s1, s2, w1, w2, sent, pusher, hold };
  }

  it('sends each worker what the others hold, only when it changed', async () => {
    const { s1, s2, w1, w2, sent, pusher, hold } = setup();
    await pusher.push();
    // Nothing held anywhere: a fresh copy already knows that.
    expect(sent).toEqual([]);
    hold(w1, s1, 3);
    hold(w2, s2, 1);
    await pusher.push();
    expect(sent).toEqual([
      ['w1', [['g', 's2', 'tcp://127.0.0.1:2', 1]]],
      ['w2', [['g', 's1', 'tcp://127.0.0.1:1', 3]]],
    ]);
    sent.length = 0;
    // w1's own count changed: w2's view changes, w1's does not.
    hold(w1, s1, 4);
    await pusher.push();
    expect(sent).toEqual([['w2', [['g', 's1', 'tcp://127.0.0.1:1', 4]]]]);
    sent.length = 0;
    // Main's own connections (no worker) are elsewhere for both.
    s2.activeConnections += 2;
    await pusher.push();
    expect(sent).toEqual([
      ['w1', [['g', 's2', 'tcp://127.0.0.1:2', 3]]],
      [
        'w2',
        [
          ['g', 's1', 'tcp://127.0.0.1:1', 4],
          ['g', 's2', 'tcp://127.0.0.1:2', 2],
        ],
      ],
    ]);
    sent.length = 0;
    // A restarted worker is told again.
    pusher.forget(w2);
    await pusher.push();
    expect(sent.map(([w]) => w)).toEqual(['w2']);
    pusher.close();
  });

  it('pushes at most once per STATS_PUSH_MS however often asked', async () => {
    vi.useFakeTimers();
    const { s1, w1, sent, pusher, hold } = setup();
    hold(w1, s1, 1);
    pusher.soon();
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toHaveLength(1); // w2 hears of w1's connection at once
    for (let i = 2; i <= 5; i++) {
      hold(w1, s1, i);
      pusher.soon();
    }
    await vi.advanceTimersByTimeAsync(STATS_PUSH_MS - 1);
    expect(sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    // One more push, with the latest count.
    expect(sent).toHaveLength(2);
    expect(sent[1]).toEqual(['w2', [['g', 's1', 'tcp://127.0.0.1:1', 5]]]);
    pusher.close();
  });
});
