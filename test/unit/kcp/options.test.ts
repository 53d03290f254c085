import { describe, expect, it } from 'vitest';
import { parseAddress } from '../../../src/fd/address.js';
import { isVproxyError } from '../../../src/fd/errors.js';
import { layerOptions } from '../../../src/fd/layer-options.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { KCP_SCHEMA, kcpOptionsFromAddress } from '../../../transports/kcp/options.js';

const opts = (query: string) => kcpOptionsFromAddress(parseAddress(`kcp://127.0.0.1:1${query}`));

describe('kcp:// options', () => {
  it('defaults to fast3, mtu 1350, pacing congestion, no key', () => {
    const o = opts('');
    expect(o.session.kcp).toMatchObject({ preset: 'fast3', mtu: 1350, congestion: 'pacing' });
    expect(opts('?congestion=classic').session.kcp.congestion).toBe('classic');
    expect(o.key).toBeUndefined();
  });

  it('maps modes to presets and keeps the UDP payload within mtu when encrypted', () => {
    expect(opts('?mode=fast').session.kcp.preset).toBe('fast1');
    expect(opts('?mode=normal').session.kcp.preset).toBe('normal');
    expect(opts('?key=x&mtu=1400').session.kcp.mtu).toBe(1360);
  });

  it('key= seals with aes-128-gcm unless crypt= names chacha20-poly1305 or secretbox', () => {
    expect(opts('?key=x').crypt).toBe('aes-128-gcm');
    expect(opts('?key=x&crypt=secretbox').crypt).toBe('secretbox');
    expect(opts('?key=x&crypt=chacha20-poly1305').crypt).toBe('chacha20-poly1305');
    expect(
      layerOptions(
        parseAddress('kcp://127.0.0.1:1?kcp.key=x&kcp.crypt=secretbox'),
        KCP_SCHEMA,
        'kcp',
      ).session.crypt,
    ).toBe('secretbox');
  });

  it('fec= (or kcp.fec=) names data/parity shards; off, 0/0 or absent means none', () => {
    expect(opts('').fec).toBeNull();
    expect(opts('?fec=off').fec).toBeNull();
    expect(opts('?fec=0/0').fec).toBeNull();
    expect(opts('?fec=10/3').fec).toEqual({ dataShards: 10, parityShards: 3 });
    expect(
      layerOptions(parseAddress('kcp://127.0.0.1:1?kcp.fec=5/2'), KCP_SCHEMA, 'kcp').session.fec,
    ).toEqual({ dataShards: 5, parityShards: 2 });
    // The FEC header (13 bytes) comes out of the arq's segments, after the seal's 40.
    expect(opts('?fec=10/3').session.kcp.mtu).toBe(1350 - 13);
    expect(opts('?fec=10/3&key=x&mtu=1400').session.kcp.mtu).toBe(1400 - 40 - 13);
  });

  it('ack-repeat is on with congestion=pacing unless turned off, off with classic', () => {
    expect(opts('').session.kcp.ackRepeat).toBe(true);
    expect(opts('?congestion=classic').session.kcp.ackRepeat).toBe(false);
    expect(opts('?congestion=classic&ack-repeat=1').session.kcp.ackRepeat).toBe(true);
    expect(opts('?congestion=pacing').session.kcp.ackRepeat).toBe(true);
    expect(opts('?congestion=pacing&ack-repeat=0').session.kcp.ackRepeat).toBe(false);
    expect(opts('?ack-repeat=1').session.kcp.ackRepeat).toBe(true);
  });

  it('ack-delay holds ACKs 2 ms by default; 0 turns it off; bounded', () => {
    expect(opts('').session.kcp.ackDelay).toBe(2);
    expect(opts('?ack-delay=0').session.kcp.ackDelay).toBe(0);
    expect(opts('?ack-delay=10').session.kcp.ackDelay).toBe(10);
    expect(() => opts('?ack-delay=-1')).toThrow(/ack-delay/);
    expect(() => opts('?ack-delay=5000')).toThrow(/ack-delay/);
  });

  it('rto-floor is off unless asked for (real losses would wait it too)', () => {
    expect(opts('').session.kcp.stallFloor).toBe(false);
    expect(opts('?congestion=pacing').session.kcp.stallFloor).toBe(false);
    expect(opts('?rto-floor=1').session.kcp.stallFloor).toBe(true);
  });

  it('session-buffer lowers both windows to fit', () => {
    const k = opts('?session-buffer=1310000&mtu=1334').session.kcp; // mss 1310: 1000 segments
    expect((k.sndWnd ?? 0) + (k.rcvWnd ?? 0)).toBeLessThanOrEqual(1000);
  });

  it.each([
    '?mode=turbo',
    '?congestion=bbr',
    '?mtu=20',
    '?sndwnd=0',
    '?dead-link=1',
    '?key=',
    '?session-buffer=10',
    '?max-sessions=0',
    '?key=x&crypt=rot13',
    '?crypt=aes-128-gcm',
    '?fec=10',
    '?fec=10/0',
    '?fec=0/3',
    '?fec=200/100',
    '?fec=a/b',
    '?fec=10/3/1',
    '?fec=',
  ])('rejects %s with a clear error', (query) => {
    expect(() => opts(query)).toThrow(/option "/);
    try {
      opts(query);
    } catch (err) {
      expect(isVproxyError(err, 'ERR_OPTION_INVALID')).toBe(true);
    }
  });

  it('the registry knows kcp:// and rejects unknown options', async () => {
    const registry = createDefaultRegistry();
    await expect(registry.connect('kcp://127.0.0.1:1?bogus=1')).rejects.toSatisfy((e) =>
      isVproxyError(e, 'ERR_OPTION_UNKNOWN'),
    );
  });
});
