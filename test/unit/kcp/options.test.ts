import { describe, expect, it } from 'vitest';
import { parseAddress } from '../../../src/fd/address.js';
import { isVproxyError } from '../../../src/fd/errors.js';
import { layerOptions } from '../../../src/fd/layer-options.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { KCP_SCHEMA, kcpOptionsFromAddress } from '../../../transports/kcp/options.js';

const opts = (query: string) => kcpOptionsFromAddress(parseAddress(`kcp://127.0.0.1:1${query}`));

describe('kcp:// options', () => {
  it('defaults to fast3, mtu 1350, classic congestion, no key', () => {
    const o = opts('');
    expect(o.session.kcp).toMatchObject({ preset: 'fast3', mtu: 1350, congestion: 'classic' });
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
