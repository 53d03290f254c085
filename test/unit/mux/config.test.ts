import { describe, expect, it } from 'vitest';
import { parseAddress } from '../../../src/fd/address.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import {
  effectiveMaxStreams,
  MUX_DEFAULTS,
  muxConfig,
  muxOptionsFromAddress,
  poolOptionsFromAddress,
} from '../../../transports/mux/config.js';

describe('mux options', () => {
  it('address options map to session tunables', () => {
    const a = parseAddress(
      'mux+tcp://h:1?window=65536&max-streams=9&max-frame=4096&ping=0&ping-timeout=50&legacy=1&gzip=on',
    );
    expect(muxOptionsFromAddress(a)).toMatchObject({
      window: 65_536,
      maxStreams: 9,
      maxFrame: 4096,
      pingMs: 0,
      pingTimeoutMs: 50,
      legacy: true,
      gzip: true,
    });
    expect(poolOptionsFromAddress(parseAddress('mux+tcp://h:1?sessions=3&session-idle=0'))).toEqual(
      {
        sessions: 3,
        streamsPerSession: 1 << 30,
        sessionIdleMs: 0,
      },
    );
  });

  it.each([
    ['window=100', /option "window=100" of a mux\+tcp address: expected an integer in 1024\.\./],
    ['window=lots', /"window=lots"/],
    ['max-frame=99999999', /"max-frame=99999999"/],
    ['max-streams=0', /"max-streams=0"/],
    ['ping=-1', /"ping=-1"/],
    ['legacy=maybe', /"legacy=maybe".*boolean/],
    ['window=8192&max-buffered=4096', /"max-buffered=4096".*smaller than one window \(8192\)/],
    ['sessions=0', /"sessions=0"/],
  ])('%s is refused with a clear message', (query, message) => {
    const address = parseAddress(`mux+tcp://h:1?${query}`);
    expect(() => {
      muxOptionsFromAddress(address);
      poolOptionsFromAddress(address);
    }).toThrow(message);
  });

  it('programmatic tunables are checked the same way', () => {
    expect(() => muxConfig({ window: 1.5 })).toThrow(/window=1.5: expected an integer/);
    expect(muxConfig({}).window).toBe(MUX_DEFAULTS.window);
  });

  it('max-buffered lowers the stream limit so streams × window fits', () => {
    expect(effectiveMaxStreams(muxConfig({ window: 1 << 20, maxBuffered: 64 << 20 }))).toBe(64);
    expect(effectiveMaxStreams(muxConfig({ maxStreams: 10 }))).toBe(10);
  });

  it('no option name of mux collides with a layer or transport below it', () => {
    const registry = createDefaultRegistry();
    for (const scheme of ['mux+tcp', 'mux+tls+tcp', 'mux+tls', 'tls+mux+tcp']) {
      const names = registry.resolve(scheme).options.map((o) => o.name);
      expect(new Set(names).size, scheme).toBe(names.length);
    }
  });
});
