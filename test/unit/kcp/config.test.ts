import { describe, expect, it } from 'vitest';
import { VproxyError } from '../../../src/fd/errors.js';
import {
  decodeDatagram,
  KcpControlBlock,
  type KcpOptions,
  type PRESETS,
  REFERENCE_DEFAULTS,
  resolveTunables,
} from '../../../transports/kcp/arq/index.js';
import { countHiddenClasses } from '../../helpers/socket-option-copies.js';
import { randomBytes, SimLink, transfer } from './sim.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(VproxyError);
    return (err as VproxyError).code;
  }
  return undefined;
}

describe('tunables and presets', () => {
  it('has the reference defaults without a preset', () => {
    const t = resolveTunables();
    expect(t).toEqual(REFERENCE_DEFAULTS);
    expect(t).toMatchObject({ interval: 100, sndWnd: 32, rcvWnd: 128, mtu: 1400, minRto: 100 });
    expect(t).toMatchObject({ deadLink: 20, fastLimit: 5, congestion: 'classic' });
  });

  it("has vproxy's presets (nodelay, interval, resend, nc, windows, mtu, minrto)", () => {
    const row = (name: keyof typeof PRESETS) => {
      const t = resolveTunables({ preset: name });
      return [+t.nodelay, t.interval, t.resend, +t.noCwnd, t.sndWnd, t.rcvWnd, t.mtu, t.minRto];
    };
    expect(row('normal')).toEqual([0, 40, 2, 1, 1024, 1024, 1250, 100]);
    expect(row('fast1')).toEqual([0, 30, 2, 1, 1024, 1024, 1250, 60]);
    expect(row('fast2')).toEqual([1, 20, 2, 1, 1024, 1024, 1250, 30]);
    expect(row('fast3')).toEqual([1, 10, 2, 1, 1024, 1024, 1250, 30]);
    expect(row('fast4')).toEqual([1, 10, 1, 1, 1024, 1024, 1250, 30]);
  });

  it('lets explicit fields override a preset, and nodelay pick the minRto', () => {
    expect(resolveTunables({ preset: 'fast3', sndWnd: 128 }).sndWnd).toBe(128);
    expect(resolveTunables({ nodelay: true }).minRto).toBe(30);
    expect(resolveTunables({ nodelay: true, minRto: 50 }).minRto).toBe(50);
    expect(resolveTunables({ interval: 1 }).interval).toBe(10); // clamped like the reference
    expect(resolveTunables({ interval: 99999 }).interval).toBe(5000);
  });

  it('rejects bad values with ERR_KCP_CONFIG', () => {
    const bad: KcpOptions[] = [
      { mtu: 49 },
      { mtu: 70000 },
      { sndWnd: 0 },
      { rcvWnd: 65536 },
      { minRto: 0 },
      { deadLink: 0 },
      { resend: -1 },
      { interval: 1.5 },
      { preset: 'fast9' as never },
      { congestion: 'bbr' as never },
      { stream: 'yes' as never },
    ];
    for (const options of bad) expect(code(() => resolveTunables(options))).toBe('ERR_KCP_CONFIG');
    expect(code(() => new KcpControlBlock(-1, () => {}))).toBe('ERR_KCP_CONFIG');
    expect(code(() => new KcpControlBlock(2 ** 32, () => {}))).toBe('ERR_KCP_CONFIG');
    const k = new KcpControlBlock(1, () => {});
    expect(code(() => k.configure({ mtu: 10 }))).toBe('ERR_KCP_CONFIG');
    expect(k.tunables.mtu).toBe(1400); // unchanged after a rejected change
  });

  it('gives every tunables object one hidden class (presets, options, configure)', () => {
    // The input and flush paths read the tunables on every datagram; a second hidden class
    // made V8's optimized SegmentInput.apply deoptimize at each ACK datagram (config.ts,
    // buildTunables). Built from spreads, the class changed after the first few blocks and
    // again with configure(), so this builds many, with values of every kind a caller may pass:
    // -0, an integral double from arithmetic, a congestion string made at run time.
    const pacing = ['pa', 'cing'].join('') as 'pacing';
    const half = (n: number) => Math.floor(n / 2) + 0.0;
    const all: object[] = [REFERENCE_DEFAULTS];
    for (let round = 0; round < 4; round++) {
      for (const preset of [undefined, 'normal', 'fast1', 'fast2', 'fast3', 'fast4'] as const) {
        all.push(resolveTunables({ preset }));
        all.push(resolveTunables({ preset, stream: true, mtu: 1400 }));
        all.push(resolveTunables({ preset, congestion: pacing, ackRepeat: true, ackDelay: 2 }));
        all.push(resolveTunables({ preset, sndWnd: half(2049), fastLimit: -0, resend: -0 }));
        const k = new KcpControlBlock(1, () => {}, { preset, stream: true });
        all.push(k.tunables);
        k.configure({ mtu: 600 });
        all.push(k.tunables);
        k.configure({ nodelay: false, congestion: pacing, interval: 1 });
        all.push(k.tunables);
      }
    }
    expect(all).toHaveLength(169);
    expect(countHiddenClasses(all)).toBe(1);
  });

  it('applies runtime changes: a smaller mtu mid-transfer still delivers every byte', () => {
    const opts: KcpOptions = { preset: 'fast3', stream: true };
    const link = new SimLink({ seed: 8, ab: { loss: 0.05 }, ba: { loss: 0.05 }, a: opts, b: opts });
    link.record = true;
    const data = randomBytes(400_000, 4);
    let changed = false;
    const r = transfer(link, data, {
      onStep: (l) => {
        if (!changed && l.b.readableBytes + l.b.stats.inBytes > 100_000) {
          changed = true;
          l.a.configure({ mtu: 600 });
          l.b.configure({ mtu: 600, nodelay: false });
        }
      },
    });
    expect(changed).toBe(true);
    expect(Buffer.compare(r.received, data)).toBe(0);
    expect(link.a.mss).toBe(576);
    expect(link.b.tunables.minRto).toBe(100);
    // Queued data was re-cut: only segments numbered before the change may exceed the new
    // mss, and the last datagrams are all within the new mtu.
    for (const d of link.wire[0].slice(-20)) {
      expect(d.length).toBeLessThanOrEqual(600);
      for (const s of decodeDatagram(d)) expect(s.len).toBeLessThanOrEqual(576);
    }
  });
});
