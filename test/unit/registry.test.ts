import { once } from 'node:events';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { type Address, parseAddress } from '../../src/fd/address.js';
import type { DatagramFD } from '../../src/fd/datagram-fd.js';
import { type ErrorCode, VproxyError } from '../../src/fd/errors.js';
import { boolOption, intOption, stringOption } from '../../src/fd/options.js';
import { Registry } from '../../src/fd/registry.js';
import type { ServerFD } from '../../src/fd/server-fd.js';
import type { StreamFD } from '../../src/fd/stream-fd.js';
import type { DatagramTransport, Layer, OptionSpec, Transport } from '../../src/fd/transport.js';
import { createDefaultRegistry } from '../../transports/default-registry.js';

// ---------------------------------------------------------------------------
// Fakes and helpers
// ---------------------------------------------------------------------------

const spec = (name: string): OptionSpec => ({ name, description: `${name} (test)` });

/** Thrown by fake transports, so a test can tell "validation passed, transport reached". */
class Reached extends Error {
  constructor(
    readonly what: 'connect' | 'listen' | 'bind',
    readonly address: Address,
  ) {
    super(`fake ${what} reached`);
  }
}

function fakeTransport(scheme: string, options: readonly OptionSpec[] = []): Transport {
  return {
    scheme,
    options,
    async connect(address: Address): Promise<StreamFD> {
      throw new Reached('connect', address);
    },
    async listen(address: Address): Promise<ServerFD> {
      throw new Reached('listen', address);
    },
  };
}

function fakeDatagram(scheme: string, options: readonly OptionSpec[] = []): DatagramTransport {
  return {
    scheme,
    options,
    async bind(address: Address): Promise<DatagramFD> {
      throw new Reached('bind', address);
    },
  };
}

/** A layer that logs each wrap as `name(innerScheme)=scheme` and adds its own options. */
function fakeLayer(name: string, log: string[] = [], options = [spec(`${name}-opt`)]): Layer {
  return {
    name,
    options,
    wrap(inner: Transport, scheme: string): Transport {
      log.push(`${name}(${inner.scheme})=${scheme}`);
      return {
        scheme,
        options: [...options, ...inner.options],
        connect: (address, opts) => inner.connect(address, opts),
        listen: (address, opts) => inner.listen(address, opts),
      };
    },
  };
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to throw');
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject');
}

function expectVproxyError(err: unknown, code: ErrorCode, message?: RegExp): void {
  expect(err).toBeInstanceOf(VproxyError);
  if (!(err instanceof VproxyError)) return;
  expect(err.code).toBe(code);
  if (message) expect(err.message).toMatch(message);
}

function expectReached(err: unknown, what: Reached['what']): Address {
  expect(err).toBeInstanceOf(Reached);
  if (!(err instanceof Reached)) throw err;
  expect(err.what).toBe(what);
  return err.address;
}

/** Rejects if `promise` is not settled within `ms` (so a lost datagram fails fast). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Everything a test opens on the real network, closed after the test. */
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

// ---------------------------------------------------------------------------
// resolve: composition, caching, default base, aliases
// ---------------------------------------------------------------------------

describe('Registry.resolve', () => {
  it('returns a registered transport itself for a single-part scheme', () => {
    const tcp = fakeTransport('tcp');
    const reg = new Registry().registerTransport(tcp);
    expect(reg.resolve('tcp')).toBe(tcp);
  });

  it('composes layers innermost first (the last part is the base)', () => {
    const log: string[] = [];
    const reg = new Registry()
      .registerTransport(fakeTransport('base', [spec('b')]))
      .registerLayer(fakeLayer('a', log))
      .registerLayer(fakeLayer('b', log))
      .registerLayer(fakeLayer('c', log));
    const t = reg.resolve('a+b+c+base');
    expect(log).toStrictEqual(['c(base)=c+base', 'b(c+base)=b+c+base', 'a(b+c+base)=a+b+c+base']);
    expect(t.scheme).toBe('a+b+c+base');
    expect(t.options.map((o) => o.name)).toStrictEqual(['a-opt', 'b-opt', 'c-opt', 'b']);
  });

  it('wraps the same layer several times when a stack repeats it', () => {
    const log: string[] = [];
    const reg = new Registry()
      .registerTransport(fakeTransport('tcp'))
      .registerLayer(fakeLayer('tls', log));
    expect(reg.resolve('tls+tls+tcp').scheme).toBe('tls+tls+tcp');
    expect(log).toStrictEqual(['tls(tcp)=tls+tcp', 'tls(tls+tcp)=tls+tls+tcp']);
  });

  it('caches the composed transport: the second resolve returns the same object', () => {
    const log: string[] = [];
    const reg = new Registry()
      .registerTransport(fakeTransport('tcp'))
      .registerLayer(fakeLayer('tls', log));
    const first = reg.resolve('tls+tcp');
    const second = reg.resolve('tls+tcp');
    expect(second).toBe(first);
    expect(log).toStrictEqual(['tls(tcp)=tls+tcp']);
  });

  it('caches per registry: two registries compose separately', () => {
    const log: string[] = [];
    const make = () =>
      new Registry().registerTransport(fakeTransport('tcp')).registerLayer(fakeLayer('tls', log));
    const a = make().resolve('tls+tcp');
    const b = make().resolve('tls+tcp');
    expect(a).not.toBe(b);
    expect(log).toHaveLength(2);
  });

  it('a stack that ends in a layer runs over the default base: tls:// is tls+tcp', () => {
    const log: string[] = [];
    const reg = new Registry()
      .registerTransport(fakeTransport('tcp'))
      .registerLayer(fakeLayer('tls', log))
      .registerLayer(fakeLayer('ws', log));
    expect(reg.resolve('tls').scheme).toBe('tls+tcp');
    expect(reg.resolve('ws+tls').scheme).toBe('ws+tls+tcp');
    expect(reg.resolve('tls')).toBe(reg.resolve('tls'));
    expect(log).toStrictEqual(['tls(tcp)=tls+tcp', 'tls(tcp)=tls+tcp', 'ws(tls+tcp)=ws+tls+tcp']);
  });

  it('honours a custom default base', () => {
    const reg = new Registry('kcp')
      .registerTransport(fakeTransport('kcp'))
      .registerLayer(fakeLayer('tls'));
    expect(reg.resolve('tls').scheme).toBe('tls+kcp');
  });

  it('the default registry resolves tls to tls+tcp with tls and tcp options', () => {
    const reg = createDefaultRegistry();
    const t = reg.resolve('tls');
    expect(t.scheme).toBe('tls+tcp');
    const names = t.options.map((o) => o.name);
    expect(names).toEqual(expect.arrayContaining(['cert', 'cert-key', 'ca', 'sni', 'insecure']));
    expect(names).toEqual(expect.arrayContaining(['nodelay', 'keepalive', 'backlog']));
    expect(reg.resolve('tls')).toBe(t);
  });

  it('expands aliases before composing', () => {
    const log: string[] = [];
    const reg = new Registry()
      .registerTransport(fakeTransport('tcp'))
      .registerLayer(fakeLayer('tls', log))
      .registerLayer(fakeLayer('ws', log))
      .registerAlias('wss', 'ws+tls+tcp');
    const t = reg.resolve('wss');
    expect(t.scheme).toBe('ws+tls+tcp');
    expect(log).toStrictEqual(['tls(tcp)=tls+tcp', 'ws(tls+tcp)=ws+tls+tcp']);
    expect(reg.resolve('wss')).toBe(t);
  });

  it('expands an alias used as one part of a stack, then adds the default base', () => {
    const log: string[] = [];
    const reg = new Registry()
      .registerTransport(fakeTransport('tcp'))
      .registerLayer(fakeLayer('tls', log))
      .registerLayer(fakeLayer('ws', log))
      .registerAlias('secure', 'tls');
    expect(reg.resolve('ws+secure').scheme).toBe('ws+tls+tcp');
    expect(log).toStrictEqual(['tls(tcp)=tls+tcp', 'ws(tls+tcp)=ws+tls+tcp']);
  });

  it('lists every scheme a user can write', () => {
    const reg = new Registry()
      .registerTransport(fakeTransport('tcp'))
      .registerDatagram(fakeDatagram('udp'))
      .registerLayer(fakeLayer('tls'))
      .registerAlias('wss', 'ws+tls+tcp');
    expect(reg.schemes()).toStrictEqual(['tcp', 'tls+…', 'udp', 'wss']);
  });

  it('composes any stack of registered layers innermost first (property)', () => {
    const names = ['a', 'b', 'c', 'd'];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...names), { minLength: 0, maxLength: 5 }), (stack) => {
        const log: string[] = [];
        const reg = new Registry().registerTransport(fakeTransport('base'));
        for (const n of names) reg.registerLayer(fakeLayer(n, log));
        const scheme = [...stack, 'base'].join('+');
        const t = reg.resolve(scheme);
        expect(t.scheme).toBe(scheme);
        const expected: string[] = [];
        for (let i = stack.length - 1; i >= 0; i--) {
          const outer = [...stack.slice(i), 'base'].join('+');
          const inner = [...stack.slice(i + 1), 'base'].join('+');
          expected.push(`${stack[i]}(${inner})=${outer}`);
        }
        expect(log).toStrictEqual(expected);
        expect(reg.resolve(scheme)).toBe(t);
        expect(log).toHaveLength(stack.length);
      }),
    );
  });
});

// ---------------------------------------------------------------------------
// Registration and resolution errors
// ---------------------------------------------------------------------------

describe('Registry errors', () => {
  it.each<[string, (r: Registry) => unknown]>([
    ['transport', (r) => r.registerTransport(fakeTransport('tcp'))],
    ['layer', (r) => r.registerLayer(fakeLayer('tcp'))],
    ['datagram', (r) => r.registerDatagram(fakeDatagram('tcp'))],
    ['alias', (r) => r.registerAlias('tcp', 'tls+tcp')],
  ])('registering a %s under a taken name throws ERR_SCHEME_DUPLICATE', (_kind, register) => {
    const reg = new Registry().registerTransport(fakeTransport('tcp'));
    expectVproxyError(
      thrown(() => register(reg)),
      'ERR_SCHEME_DUPLICATE',
      /scheme "tcp" is already registered/,
    );
  });

  it('every kind of name shares one namespace', () => {
    const reg = new Registry()
      .registerTransport(fakeTransport('tcp'))
      .registerLayer(fakeLayer('tls'))
      .registerDatagram(fakeDatagram('udp'))
      .registerAlias('wss', 'ws+tls+tcp');
    for (const name of ['tcp', 'tls', 'udp', 'wss']) {
      expectVproxyError(
        thrown(() => reg.registerTransport(fakeTransport(name))),
        'ERR_SCHEME_DUPLICATE',
        new RegExp(`scheme "${name}" is already registered`),
      );
      expectVproxyError(
        thrown(() => reg.registerAlias(name, 'tcp')),
        'ERR_SCHEME_DUPLICATE',
      );
    }
  });

  it('the default registry refuses a second tcp', () => {
    expectVproxyError(
      thrown(() => createDefaultRegistry().registerTransport(fakeTransport('tcp'))),
      'ERR_SCHEME_DUPLICATE',
    );
  });

  it('an unknown scheme throws ERR_SCHEME_UNKNOWN naming it and the known schemes', () => {
    const reg = new Registry().registerTransport(fakeTransport('tcp'));
    expectVproxyError(
      thrown(() => reg.resolve('nope')),
      'ERR_SCHEME_UNKNOWN',
      /"nope": no stream transport "nope"; known: tcp/,
    );
  });

  it('an unknown base under a layer is named', () => {
    const reg = new Registry()
      .registerTransport(fakeTransport('tcp'))
      .registerLayer(fakeLayer('tls'));
    expectVproxyError(
      thrown(() => reg.resolve('tls+quic')),
      'ERR_SCHEME_UNKNOWN',
      /"tls\+quic": no stream transport "quic"/,
    );
  });

  it('an unknown layer throws ERR_SCHEME_UNKNOWN naming it and the known layers', () => {
    const reg = new Registry()
      .registerTransport(fakeTransport('tcp'))
      .registerLayer(fakeLayer('tls'));
    expectVproxyError(
      thrown(() => reg.resolve('foo+tcp')),
      'ERR_SCHEME_UNKNOWN',
      /"foo\+tcp": no layer "foo"; known layers: tls/,
    );
    expectVproxyError(
      thrown(() => reg.resolve('tls+foo+tcp')),
      'ERR_SCHEME_UNKNOWN',
      /no layer "foo"/,
    );
  });

  it('a transport used as a layer is an unknown layer; "none" when there are no layers', () => {
    const reg = new Registry().registerTransport(fakeTransport('tcp'));
    expectVproxyError(
      thrown(() => reg.resolve('tcp+tcp')),
      'ERR_SCHEME_UNKNOWN',
      /"tcp\+tcp": no layer "tcp"; known layers: none/,
    );
  });

  it('a failed resolve is not cached', () => {
    const reg = new Registry().registerTransport(fakeTransport('tcp'));
    expectVproxyError(
      thrown(() => reg.resolve('tls+tcp')),
      'ERR_SCHEME_UNKNOWN',
    );
    reg.registerLayer(fakeLayer('tls'));
    expect(reg.resolve('tls+tcp').scheme).toBe('tls+tcp');
  });

  it('a datagram scheme used as a stream gets a hint', () => {
    const reg = new Registry()
      .registerTransport(fakeTransport('tcp'))
      .registerDatagram(fakeDatagram('udp'))
      .registerLayer(fakeLayer('tls'));
    expectVproxyError(
      thrown(() => reg.resolve('udp')),
      'ERR_SCHEME_UNKNOWN',
      /no stream transport "udp" \(it is a datagram transport\)/,
    );
    expectVproxyError(
      thrown(() => reg.resolve('tls+udp')),
      'ERR_SCHEME_UNKNOWN',
      /\(it is a datagram transport\)/,
    );
  });

  it('connect/listen with a datagram scheme reject with the hint (default registry)', async () => {
    const reg = createDefaultRegistry();
    expectVproxyError(
      await rejection(reg.connect('udp://127.0.0.1:1')),
      'ERR_SCHEME_UNKNOWN',
      /"udp": no stream transport "udp" \(it is a datagram transport\)/,
    );
    expectVproxyError(
      await rejection(reg.listen('udp://127.0.0.1:0')),
      'ERR_SCHEME_UNKNOWN',
      /it is a datagram transport/,
    );
  });

  it('bindDatagram with a stream scheme throws ERR_SCHEME_UNKNOWN', async () => {
    const reg = createDefaultRegistry();
    expectVproxyError(
      await rejection(reg.bindDatagram('tcp://127.0.0.1:0')),
      'ERR_SCHEME_UNKNOWN',
      /"tcp" is not a datagram transport; known: udp/,
    );
  });

  it('connect/listen/bindDatagram reject an invalid address string with ERR_ADDRESS_INVALID', async () => {
    const reg = createDefaultRegistry();
    expectVproxyError(await rejection(reg.connect('127.0.0.1')), 'ERR_ADDRESS_INVALID');
    expectVproxyError(await rejection(reg.listen('tcp://:0')), 'ERR_ADDRESS_INVALID');
    expectVproxyError(await rejection(reg.bindDatagram('udp://h:99999')), 'ERR_ADDRESS_INVALID');
  });
});

// ---------------------------------------------------------------------------
// Address options checked against the composed transport
// ---------------------------------------------------------------------------

describe('Registry option checking', () => {
  function fakeRegistry(): Registry {
    return new Registry()
      .registerTransport(fakeTransport('tcp', [spec('nodelay'), spec('keepalive')]))
      .registerTransport(fakeTransport('bare'))
      .registerLayer(fakeLayer('tls', [], [spec('sni')]))
      .registerDatagram(fakeDatagram('udp', [spec('rcvbuf')]));
  }

  it('passes known options through to the transport, parsed', async () => {
    const reg = fakeRegistry();
    const a = expectReached(await rejection(reg.connect('tcp://h:1?nodelay=0')), 'connect');
    expect({ ...a.options }).toStrictEqual({ nodelay: '0' });
    const b = expectReached(await rejection(reg.listen('tls://h:2?sni=x&keepalive=5')), 'listen');
    expect(b.scheme).toBe('tls');
    expect({ ...b.options }).toStrictEqual({ sni: 'x', keepalive: '5' });
    const c = expectReached(await rejection(reg.bindDatagram('udp://h:3?rcvbuf=9')), 'bind');
    expect(c.port).toBe(3);
  });

  it('accepts a parsed Address as well as a string', async () => {
    const reg = fakeRegistry();
    const addr = parseAddress('tcp://h:1?keepalive=1');
    expect(expectReached(await rejection(reg.connect(addr)), 'connect')).toBe(addr);
  });

  it('rejects an unknown option with ERR_OPTION_UNKNOWN naming it and the known list', async () => {
    const reg = fakeRegistry();
    expectVproxyError(
      await rejection(reg.connect('tcp://h:1?bogus=1')),
      'ERR_OPTION_UNKNOWN',
      /unknown option "bogus" in tcp:\/\/h:1\?bogus=1; tcp takes: nodelay, keepalive$/,
    );
    expectVproxyError(
      await rejection(reg.listen('tls://h:1?nodelay=1&bogus')),
      'ERR_OPTION_UNKNOWN',
      /unknown option "bogus" .*; tls takes: sni, nodelay, keepalive$/,
    );
    expectVproxyError(
      await rejection(reg.connect('bare://h:1?x=1')),
      'ERR_OPTION_UNKNOWN',
      /unknown option "x" .*; bare takes: none$/,
    );
    expectVproxyError(
      await rejection(reg.bindDatagram('udp://h:1?nodelay=1')),
      'ERR_OPTION_UNKNOWN',
      /unknown option "nodelay" .*; udp takes: rcvbuf$/,
    );
  });

  it('rejects an option of a layer that is not in the stack', async () => {
    const reg = fakeRegistry();
    expectVproxyError(
      await rejection(reg.connect('tcp://h:1?sni=example.com')),
      'ERR_OPTION_UNKNOWN',
      /unknown option "sni"/,
    );
  });

  it('the default registry names its real option lists', async () => {
    const reg = createDefaultRegistry();
    expectVproxyError(
      await rejection(reg.connect('tcp://127.0.0.1:1?bogus=1')),
      'ERR_OPTION_UNKNOWN',
      /unknown option "bogus" .*; tcp takes: nodelay, keepalive, backlog$/,
    );
    expectVproxyError(
      await rejection(reg.listen('tls://127.0.0.1:0?bogus=1')),
      'ERR_OPTION_UNKNOWN',
      /unknown option "bogus" .*; tls takes: cert, cert-key, ca, sni, insecure, nodelay, keepalive, backlog$/,
    );
    expectVproxyError(
      await rejection(reg.bindDatagram('udp://127.0.0.1:0?bogus=1')),
      'ERR_OPTION_UNKNOWN',
      /unknown option "bogus" .*; udp takes: rcvbuf, sndbuf$/,
    );
  });

  it.each<[string, 'connect' | 'listen', string, RegExp]>([
    [
      'nodelay=maybe',
      'connect',
      'tcp://127.0.0.1:1?nodelay=maybe',
      /option "nodelay=maybe" of a tcp address: expected a boolean/,
    ],
    [
      'keepalive=-1',
      'connect',
      'tcp://127.0.0.1:1?keepalive=-1',
      /option "keepalive=-1" of a tcp address: expected an integer in 0\.\.86400/,
    ],
    [
      'keepalive=86401',
      'listen',
      'tcp://127.0.0.1:0?keepalive=86401',
      /option "keepalive=86401" of a tcp address: expected an integer in 0\.\.86400/,
    ],
    [
      'backlog=0',
      'listen',
      'tcp://127.0.0.1:0?backlog=0',
      /option "backlog=0" of a tcp address: expected an integer in 1\.\.65535/,
    ],
    [
      'backlog=abc',
      'listen',
      'tcp://127.0.0.1:0?backlog=abc',
      /option "backlog=abc" of a tcp address: expected an integer/,
    ],
    [
      'tls listener without cert',
      'listen',
      'tls://127.0.0.1:0',
      /a tls listener needs the options cert=FILE and cert-key=FILE/,
    ],
  ])('rejects a bad option value (%s) with ERR_OPTION_INVALID', async (_n, op, text, message) => {
    const reg = createDefaultRegistry();
    // If validation were skipped a real socket could open: close it before failing.
    const err =
      op === 'connect'
        ? await reg.connect(text).then(
            (fd) => {
              fd.destroy();
              throw new Error('expected connect to reject');
            },
            (e: unknown) => e,
          )
        : await reg.listen(text).then(
            async (server) => {
              await server.close();
              throw new Error('expected listen to reject');
            },
            (e: unknown) => e,
          );
    expectVproxyError(err, 'ERR_OPTION_INVALID', message);
  });

  it('rejects a bad udp option value with ERR_OPTION_INVALID', async () => {
    const reg = createDefaultRegistry();
    const err = await reg.bindDatagram('udp://127.0.0.1:0?rcvbuf=lots').then(
      async (fd) => {
        await fd.close();
        throw new Error('expected bindDatagram to reject');
      },
      (e: unknown) => e,
    );
    expectVproxyError(
      err,
      'ERR_OPTION_INVALID',
      /option "rcvbuf=lots" of a udp address: expected an integer/,
    );
  });
});

// ---------------------------------------------------------------------------
// The default registry on the loopback
// ---------------------------------------------------------------------------

describe('default registry on 127.0.0.1', () => {
  it('listens and connects over tcp with valid options', async () => {
    const reg = createDefaultRegistry();
    const server = await reg.listen('tcp://127.0.0.1:0?backlog=16&nodelay=0&keepalive=30');
    cleanups.push(() => server.close());
    const { port } = server.address();
    expect(port).toBeGreaterThan(0);
    expect(server.kind).toBe('tcp');

    const accepted = once(server, 'connection') as Promise<[StreamFD]>;
    const client = await reg.connect(`tcp://127.0.0.1:${port}?nodelay&keepalive=1`, {
      timeoutMs: 5000,
    });
    cleanups.push(() => client.destroy());
    const [peer] = await within(accepted, 5000, 'the accepted connection');
    cleanups.push(() => peer.destroy());
    expect(client.kind).toBe('tcp');
    expect(peer.kind).toBe('tcp');

    peer.resume();
    const got = once(peer, 'data') as Promise<[Buffer]>;
    client.write('hello');
    const [data] = await within(got, 5000, 'data from the client');
    expect(data.toString()).toBe('hello');
  });

  it('a bad tls client option is reported as ERR_OPTION_INVALID once tcp is up', async () => {
    // tls client options are read by the layer after the inner tcp connect, so this
    // needs a listener; the half-open tcp stream is destroyed by the layer.
    const reg = createDefaultRegistry();
    const server = await reg.listen('tcp://127.0.0.1:0');
    cleanups.push(() => server.close());
    server.on('connection', (fd) => fd.destroy());
    const err = await reg.connect(`tls://127.0.0.1:${server.address().port}?sni=`).then(
      (fd) => {
        fd.destroy();
        throw new Error('expected connect to reject');
      },
      (e: unknown) => e,
    );
    expectVproxyError(
      err,
      'ERR_OPTION_INVALID',
      /option "sni=" of a tls address: expected a non-empty value/,
    );
  });

  it('binds two udp sockets and delivers a datagram with the right sender', async () => {
    const reg = createDefaultRegistry();
    const a = await reg.bindDatagram('udp://127.0.0.1:0');
    cleanups.push(() => a.close());
    const b = await reg.bindDatagram('udp://127.0.0.1:0');
    cleanups.push(() => b.close());
    expect(a.kind).toBe('udp');
    expect(a.address().host).toBe('127.0.0.1');
    expect(a.address().port).toBeGreaterThan(0);
    expect(b.address().port).not.toBe(a.address().port);

    const received = once(b, 'message') as Promise<[Buffer, { host: string; port: number }]>;
    a.send(Buffer.from('ping'), b.address());
    const [data, from] = await within(received, 5000, 'the datagram');
    expect(data.toString()).toBe('ping');
    expect(from).toStrictEqual({ host: '127.0.0.1', port: a.address().port });

    // And back the other way, to the `from` we were given.
    const reply = once(a, 'message') as Promise<[Buffer, { host: string; port: number }]>;
    b.send(Buffer.from('pong'), from);
    const [data2, from2] = await within(reply, 5000, 'the reply');
    expect(data2.toString()).toBe('pong');
    expect(from2).toStrictEqual({ host: '127.0.0.1', port: b.address().port });

    await a.close();
    await b.close();
    await a.close(); // idempotent
  });
});

// ---------------------------------------------------------------------------
// options.ts helpers
// ---------------------------------------------------------------------------

function withOptions(options: Record<string, string>): Address {
  return { scheme: 'tcp', host: 'h', port: 1, path: '', options };
}

describe('boolOption', () => {
  it.each(['', '1', 'true', 'yes', 'on'])('%j is true', (v) => {
    expect(boolOption(withOptions({ x: v }), 'x', false)).toBe(true);
  });

  it.each(['0', 'false', 'no', 'off'])('%j is false', (v) => {
    expect(boolOption(withOptions({ x: v }), 'x', true)).toBe(false);
  });

  it('falls back when the option is absent', () => {
    expect(boolOption(withOptions({}), 'x', true)).toBe(true);
    expect(boolOption(withOptions({}), 'x', false)).toBe(false);
    expect(boolOption(withOptions({ y: '0' }), 'x', true)).toBe(true);
  });

  it.each(['maybe', '2', 'TRUE', 'Yes', 'y', 'n', ' 1', '-1', 'truee'])(
    '%j is rejected with ERR_OPTION_INVALID',
    (v) => {
      expectVproxyError(
        thrown(() => boolOption(withOptions({ x: v }), 'x', true)),
        'ERR_OPTION_INVALID',
        /^option "x=.*" of a tcp address: expected a boolean \(1\/0, true\/false, yes\/no, on\/off\)$/,
      );
    },
  );
});

describe('intOption', () => {
  it('falls back when absent and reads decimal integers', () => {
    expect(intOption(withOptions({}), 'n', 7, 0, 10)).toBe(7);
    expect(intOption(withOptions({ n: '0' }), 'n', 7, 0, 10)).toBe(0);
    expect(intOption(withOptions({ n: '10' }), 'n', 7, 0, 10)).toBe(10);
    expect(intOption(withOptions({ n: '007' }), 'n', 1, 0, 10)).toBe(7);
    expect(intOption(withOptions({ n: '999999999999999' }), 'n', 1, 0, 1e15)).toBe(999999999999999);
  });

  it.each([
    ['', 'empty'],
    ['-1', 'negative'],
    ['1.5', 'fraction'],
    ['1e3', 'exponent'],
    ['0x10', 'hex'],
    [' 1', 'space'],
    ['+1', 'plus sign'],
    ['1_000', 'separator'],
    ['9999999999999999', 'more than 15 digits'],
    ['11', 'above max'],
    ['2', 'below min'],
  ])('%j (%s) is rejected with ERR_OPTION_INVALID', (v) => {
    expectVproxyError(
      thrown(() => intOption(withOptions({ n: v }), 'n', 5, 3, 10)),
      'ERR_OPTION_INVALID',
      /^option "n=.*" of a tcp address: expected an integer in 3\.\.10$/,
    );
  });

  it('accepts exactly the integers in [min, max] (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 0, max: 200_000 }),
        (x, y, n) => {
          const min = Math.min(x, y);
          const max = Math.max(x, y);
          const addr = withOptions({ n: String(n) });
          if (n >= min && n <= max) {
            expect(intOption(addr, 'n', -1, min, max)).toBe(n);
          } else {
            expectVproxyError(
              thrown(() => intOption(addr, 'n', -1, min, max)),
              'ERR_OPTION_INVALID',
            );
          }
        },
      ),
    );
  });
});

describe('stringOption', () => {
  it('returns the value, or undefined when absent', () => {
    expect(stringOption(withOptions({ s: 'x y' }), 's')).toBe('x y');
    expect(stringOption(withOptions({}), 's')).toBeUndefined();
  });

  it('rejects an empty value with ERR_OPTION_INVALID', () => {
    expectVproxyError(
      thrown(() => stringOption(withOptions({ s: '' }), 's')),
      'ERR_OPTION_INVALID',
      /^option "s=" of a tcp address: expected a non-empty value$/,
    );
  });

  it('reads option values parsed from an address', () => {
    const a = parseAddress('tls://h:1?sni=example.com&ca=%2Fetc%2Fca.pem&insecure');
    expect(stringOption(a, 'sni')).toBe('example.com');
    expect(stringOption(a, 'ca')).toBe('/etc/ca.pem');
    expect(boolOption(a, 'insecure', false)).toBe(true);
    expect(intOption(a, 'keepalive', 0, 0, 10)).toBe(0);
  });
});
