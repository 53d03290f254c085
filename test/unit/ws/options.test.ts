import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatAddress, parseAddress } from '../../../src/fd/address.js';
import { isVproxyError } from '../../../src/fd/errors.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import {
  clientSettings,
  RAW_SUBPROTOCOL,
  serverSettings,
  WS_OPTIONS,
} from '../../../transports/ws/options.js';

const client = (text: string, kind = 'ws+tcp') => clientSettings(parseAddress(text), kind);
const server = (text: string) => serverSettings(parseAddress(text));

function invalid(fn: () => unknown, mention: string): void {
  try {
    fn();
  } catch (err) {
    expect(isVproxyError(err, 'ERR_OPTION_INVALID')).toBe(true);
    expect((err as Error).message).toContain(mention);
    return;
  }
  throw new Error('expected ERR_OPTION_INVALID');
}

describe('ws client settings', () => {
  it('has framed defaults, the path and a Host header without the default port', () => {
    const s = client('ws://example.com:80/tunnel');
    expect(s).toMatchObject({
      mode: 'framed',
      path: '/tunnel',
      hostHeader: 'example.com',
      subprotocol: '',
      zeroMask: false,
      maxPayload: 1024 * 1024,
      pingIntervalMs: 30_000,
      pongTimeoutMs: 90_000,
    });
    expect(client('ws://example.com:8080').hostHeader).toBe('example.com:8080');
    expect(client('ws://example.com:8080').path).toBe('/');
    expect(client('ws://[::1]:443/x', 'ws+tls+tcp').hostHeader).toBe('[::1]');
    expect(client('ws://[::1]:80/x', 'ws+tls+tcp').hostHeader).toBe('[::1]:80');
  });

  it('raw mode offers the vproxy-raw subprotocol unless told otherwise', () => {
    expect(client('ws://h:1?ws-mode=raw').subprotocol).toBe(RAW_SUBPROTOCOL);
    expect(client('ws://h:1?ws-mode=raw&subprotocol=socks5').subprotocol).toBe('socks5');
  });

  it('reads host, headers, mask and timing options', () => {
    const s = client(
      'ws://h:1?host=front.example&headers=X-A:1|Authorization:Basic%20eHk%3D&mask=zero&ping-interval=500&pong-timeout=0&max-payload=65536',
    );
    expect(s.hostHeader).toBe('front.example');
    expect({ ...s.headers }).toEqual({ 'X-A': '1', Authorization: 'Basic eHk=' });
    expect(s.zeroMask).toBe(true);
    expect(s.pingIntervalMs).toBe(500);
    expect(s.pongTimeoutMs).toBe(0);
    expect(s.maxPayload).toBe(65536);
  });

  it('names the bad option and value', () => {
    invalid(() => client('ws://h:1?ws-mode=fast'), 'ws-mode=fast');
    invalid(() => client('ws://h:1?mask=maybe'), 'mask=maybe');
    invalid(() => client('ws://h:1?max-payload=100'), 'max-payload=100');
    invalid(() => client('ws://h:1?ping-interval=-1'), 'ping-interval');
    invalid(() => client('ws://h:1?subprotocol=a%20b'), 'subprotocol');
    invalid(() => client('ws://h:1?headers=NoColon'), 'headers');
    invalid(() => client('ws://h:1?headers=X:a%0D%0AEvil:1'), 'headers');
    invalid(() => client('ws://h:1?raw-subprotocols=socks5'), 'listeners only');
  });

  it('property: any token headers survive the address round trip', () => {
    const token = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/);
    const value = fc.stringMatching(
      /^[\x21-\x7b\x7d\x7e]([\x20-\x7b\x7d\x7e]{0,30}[\x21-\x7b\x7d\x7e])?$/,
    );
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(token, value), {
          selector: (t) => t[0],
          minLength: 1,
          maxLength: 5,
        }),
        (pairs) => {
          const options = { headers: pairs.map(([n, v]) => `${n}:${v}`).join('|') };
          const text = formatAddress({ scheme: 'ws', host: 'h', port: 1, path: '', options });
          const s = client(text);
          expect({ ...s.headers }).toEqual(Object.fromEntries(pairs));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('ws listener settings', () => {
  it('always treats vproxy-raw as raw, plus the listed subprotocols', () => {
    expect([...server('ws://0.0.0.0:80').rawSubprotocols]).toEqual([RAW_SUBPROTOCOL]);
    expect([...server('ws://0.0.0.0:80/t?raw-subprotocols=socks5,x').rawSubprotocols]).toEqual([
      RAW_SUBPROTOCOL,
      'socks5',
      'x',
    ]);
    expect(server('ws://0.0.0.0:80').path).toBe('');
    expect(server('ws://0.0.0.0:80/t').path).toBe('/t');
  });

  it('rejects client-only options', () => {
    invalid(() => server('ws://0.0.0.0:80?ws-mode=raw'), 'clients only');
    invalid(() => server('ws://0.0.0.0:80?raw-subprotocols=a%20b'), 'raw-subprotocols');
  });
});

describe('ws in the default registry', () => {
  const registry = createDefaultRegistry();

  it('resolves ws = ws+tcp and wss = ws+tls+tcp, with every layer’s options', () => {
    expect(registry.resolve('ws').scheme).toBe('ws+tcp');
    expect(registry.resolve('wss').scheme).toBe('ws+tls+tcp');
    const names = registry.resolve('wss').options.map((o) => o.name);
    for (const o of WS_OPTIONS) expect(names).toContain(o.name);
    expect(names).toContain('ca');
    expect(names).toContain('nodelay');
  });

  it('fails fast on an unknown option or a bad value, before connecting', async () => {
    await expect(registry.connect('ws://127.0.0.1:9/?nope=1')).rejects.toMatchObject({
      code: 'ERR_OPTION_UNKNOWN',
    });
    await expect(registry.connect('ws://127.0.0.1:9/?ws-mode=nope')).rejects.toMatchObject({
      code: 'ERR_OPTION_INVALID',
    });
  });
});
