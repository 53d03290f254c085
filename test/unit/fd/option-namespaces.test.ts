import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Address, parseAddress } from '../../../src/fd/address.js';
import { isVproxyError, VproxyError } from '../../../src/fd/errors.js';
import { layerOptions, type OptionSchema } from '../../../src/fd/layer-options.js';
import { createLogger, type Logger } from '../../../src/fd/logger.js';
import type { Registry } from '../../../src/fd/registry.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { KCP_SCHEMA } from '../../../transports/kcp/options.js';
import { MUX_SCHEMA } from '../../../transports/mux/config.js';
import { TCP_SCHEMA } from '../../../transports/tcp/options.js';
import { TLS_SCHEMA } from '../../../transports/tls/index.js';
import { settingsOf, WS_SCHEMA } from '../../../transports/ws/options.js';

interface Warning {
  readonly event: string;
  readonly fields: Record<string, unknown>;
}

/** A logger that keeps what it was told, as parsed JSON lines. */
function recorder(): { logger: Logger; warnings: Warning[] } {
  const warnings: Warning[] = [];
  const logger = createLogger({
    threshold: 'warn',
    format: 'json',
    write: (line) => {
      const { event, level, time: _t, ...fields } = JSON.parse(line) as Record<string, unknown>;
      if (level === 'warn') warnings.push({ event: String(event), fields });
    },
  });
  return { logger, warnings };
}

function thrown(fn: () => unknown): VproxyError {
  try {
    fn();
  } catch (err) {
    if (err instanceof VproxyError) return err;
    throw err;
  }
  throw new Error('did not throw');
}

/** Every scheme of the default registry in which two different schemas meet. */
function stackedSchemes(): string[] {
  const layers = ['tls', 'ws', 'mux'];
  const bases = ['tcp', 'kcp'];
  const out: string[] = [];
  for (const base of bases) {
    for (const a of layers) {
      out.push(`${a}+${base}`);
      for (const b of layers) if (b !== a) out.push(`${a}+${b}+${base}`);
    }
  }
  return out;
}

/** A value `schema` takes for `name` (the registry checks values too). */
function validValue(schema: OptionSchema, name: string, scheme: string): string {
  for (const v of ['65536', '4194304', 'fast3', 'framed', '1', 'x']) {
    try {
      schema.parse({ ...parseAddress(`${scheme}://h:1`), options: { [name]: v } }, scheme);
      return v;
    } catch {}
  }
  throw new Error(`no valid value for ${schema.prefix}.${name}`);
}

describe('option namespaces: every pair of layers that can stack', () => {
  it('a name both know is refused bare (naming both) and accepted prefixed; an old owner keeps it, warned', () => {
    let collisions = 0;
    for (const scheme of stackedSchemes()) {
      const { logger, warnings } = recorder();
      const registry = createDefaultRegistry(logger);
      const schemas = registry.optionSchemas(scheme);
      for (const x of schemas) {
        for (const y of schemas) {
          if (x === y || x.prefix > y.prefix) continue;
          const shared = x.specs
            .map((o) => o.name)
            .filter((n) => y.specs.some((o) => o.name === n));
          for (const name of shared) {
            collisions++;
            const vx = validValue(x, name, scheme);
            const vy = validValue(y, name, scheme);
            // Prefixed: each reaches its own layer.
            const both = registry.parse(
              `${scheme}://h:1/?${x.prefix}.${name}=${vx}&${y.prefix}.${name}=${vy}`,
            );
            expect(layerOptions(both, x)).toBeDefined();
            const old = [x, y].filter((s) => !(s.newNames ?? []).includes(name));
            if (old.length === 1) {
              // It meant the old owner's before namespacing: saved addresses still load.
              const owner = old[0] as OptionSchema;
              const before = warnings.length;
              registry.parse(`${scheme}://h:1/?${name}=${owner === x ? vx : vy}`);
              expect(warnings.slice(before), `${scheme} ${name}`).toMatchObject([
                {
                  event: 'option-deprecated',
                  fields: { option: name, write: `${owner.prefix}.${name}` },
                },
              ]);
              continue;
            }
            const err = thrown(() => registry.parse(`${scheme}://h:1/?${name}=${vx}`));
            expect(err.code, `${scheme} ${name}`).toBe('ERR_OPTION_AMBIGUOUS');
            expect(err.message).toContain(`${x.prefix}.${name}`);
            expect(err.message).toContain(`${y.prefix}.${name}`);
          }
        }
      }
    }
    // mux × kcp share the 12 mux names; ws × kcp share `mode`.
    expect(collisions).toBeGreaterThanOrEqual(13 * 2);
  });

  it('no two layers of a tcp stack share a name, so every bare name still works there', () => {
    const registry = createDefaultRegistry();
    for (const scheme of stackedSchemes().filter((s) => s.endsWith('+tcp'))) {
      const names = registry.optionSchemas(scheme).flatMap((s) => s.specs.map((o) => o.name));
      expect(new Set(names).size, scheme).toBe(names.length);
    }
  });

  it('says which names are ambiguous, with the example from the design', () => {
    const err = thrown(() => createDefaultRegistry().parse('mux+kcp://h:1?window=65536'));
    expect(err.code).toBe('ERR_OPTION_AMBIGUOUS');
    expect(err.message).toMatch(/known by mux and kcp: write mux\.window or kcp\.window/);
  });

  it('refuses an unknown prefix, an unknown prefixed name and a name given twice', () => {
    const registry = createDefaultRegistry();
    expect(thrown(() => registry.parse('tcp://h:1?kcp.mode=fast3')).code).toBe(
      'ERR_OPTION_UNKNOWN',
    );
    expect(thrown(() => registry.parse('mux+tcp://h:1?mux.nope=1')).code).toBe(
      'ERR_OPTION_UNKNOWN',
    );
    const twice = thrown(() => registry.parse('mux+tcp://h:1?window=65536&mux.window=65536'));
    expect(twice.code).toBe('ERR_OPTION_INVALID');
    expect(twice.message).toContain('given twice');
  });
});

describe('prefixed names reach the right layer', () => {
  const registry = createDefaultRegistry();

  it('mux.window and kcp.window set two different windows', () => {
    const a = registry.parse('mux+kcp://h:1?mux.window=65536&kcp.window=131072&kcp.mode=fast2');
    expect(layerOptions(a, MUX_SCHEMA).mux.window).toBe(65536);
    expect(layerOptions(a, KCP_SCHEMA).stream.mux.window).toBe(131072);
    expect(layerOptions(a, KCP_SCHEMA).session.session.kcp.preset).toBe('fast2');
  });

  it('kcp keeps its larger default stream window when only mux sets one', () => {
    const a = registry.parse('mux+kcp://h:1?mux.window=65536');
    expect(layerOptions(a, KCP_SCHEMA).stream.mux.window).toBe(2 * 1024 * 1024);
  });

  it('ws.mode and kcp.mode go to their own layers', () => {
    const a = registry.parse('ws+kcp://h:1/t?ws.mode=raw&kcp.mode=normal');
    expect(settingsOf(layerOptions(a, WS_SCHEMA).client).mode).toBe('raw');
    expect(layerOptions(a, KCP_SCHEMA).session.session.kcp.preset).toBe('normal');
  });

  it('tls.ca and tcp.nodelay, prefixed or bare where one layer knows them', () => {
    for (const q of ['tls.ca=/x.pem&tcp.nodelay=0', 'ca=/x.pem&nodelay=0']) {
      const a = registry.parse(`wss://h:1/?${q}`);
      expect(layerOptions(a, TLS_SCHEMA).ca).toBe('/x.pem');
      expect(layerOptions(a, TCP_SCHEMA).noDelay).toBe(false);
    }
  });

  it('parsed options are frozen', () => {
    const a = registry.parse('mux+tcp://h:1?window=65536');
    expect(Object.isFrozen(layerOptions(a, MUX_SCHEMA))).toBe(true);
    expect(Object.isFrozen(layerOptions(a, MUX_SCHEMA).mux)).toBe(true);
  });
});

describe('old spellings load, with a deprecation warning', () => {
  it('ws-mode is ws.mode', () => {
    const { logger, warnings } = recorder();
    const a = createDefaultRegistry(logger).parse('ws://h:1/?ws-mode=raw');
    expect(settingsOf(layerOptions(a, WS_SCHEMA).client).mode).toBe('raw');
    expect(warnings).toMatchObject([
      { event: 'option-deprecated', fields: { option: 'ws-mode', write: 'ws.mode' } },
    ]);
  });

  it('a bare mode in ws+kcp is still kcp’s, as before ws had one', () => {
    const { logger, warnings } = recorder();
    const a = createDefaultRegistry(logger).parse('ws+kcp://h:1/t?mode=fast2&ws-mode=raw');
    expect(layerOptions(a, KCP_SCHEMA).session.session.kcp.preset).toBe('fast2');
    expect(settingsOf(layerOptions(a, WS_SCHEMA).client).mode).toBe('raw');
    expect(warnings.map((w) => w.fields.write).sort()).toEqual(['kcp.mode', 'ws.mode']);
  });

  it('warns once per address, however often it is used', () => {
    const { logger, warnings } = recorder();
    const registry = createDefaultRegistry(logger);
    const a = parseAddress('ws://127.0.0.1:9/?ws-mode=framed');
    for (let i = 0; i < 3; i++) registry.parse('ws://h:1/?ws-mode=raw');
    expect(warnings).toHaveLength(3); // three strings, three addresses
    warnings.length = 0;
    for (let i = 0; i < 3; i++) {
      // connect() checks the same Address object: warned (and parsed) once.
      void registry.connect(a, { timeoutMs: 50 }).then(
        (fd) => fd.destroy(),
        () => {},
      );
    }
    expect(warnings).toHaveLength(1);
  });

  it('the unit-level parsers still read the old names when called straight', () => {
    expect(layerOptions(parseAddress('ws://h:1/?ws-mode=raw'), WS_SCHEMA).client).toMatchObject({
      ok: true,
      value: { mode: 'raw' },
    });
  });
});

describe('parse once', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('each layer’s parser runs once per address, however many connects', async () => {
    const registry: Registry = createDefaultRegistry();
    const mux = vi.spyOn(MUX_SCHEMA, 'parse');
    const tcp = vi.spyOn(TCP_SCHEMA, 'parse');
    const server = await registry.listen('mux+tcp://127.0.0.1:0');
    server.on('connection', (fd) => fd.pipe(fd));
    const listenParses = [mux.mock.calls.length, tcp.mock.calls.length];
    const address: Address = parseAddress(
      `mux+tcp://127.0.0.1:${server.address().port}?mux.window=65536&nodelay=1&session-idle=0`,
    );
    for (let i = 0; i < 5; i++) {
      const fd = await registry.connect(address);
      fd.destroy();
    }
    expect(mux.mock.calls.length - (listenParses[0] ?? 0)).toBe(1);
    expect(tcp.mock.calls.length - (listenParses[1] ?? 0)).toBe(1);
    await server.close();
  });

  it('a kcp address is parsed once for every stream and session it opens', async () => {
    const registry = createDefaultRegistry();
    const kcp = vi.spyOn(KCP_SCHEMA, 'parse');
    const server = await registry.listen('kcp://127.0.0.1:0?ping=0');
    server.on('connection', (fd) => fd.pipe(fd));
    const address = parseAddress(`kcp://127.0.0.1:${server.address().port}?kcp.sessions=2&ping=0`);
    kcp.mockClear();
    const fds = [];
    for (let i = 0; i < 4; i++) fds.push(await registry.connect(address));
    expect(kcp).toHaveBeenCalledTimes(1);
    for (const fd of fds) fd.destroy();
    await server.close();
  });

  it('a bad address leaves nothing cached: the next try fails the same way', async () => {
    const registry = createDefaultRegistry();
    const a = parseAddress('mux+tcp://h:1?window=1');
    const first = thrown(() => registry.parse('mux+tcp://h:1?window=1'));
    expect(isVproxyError(first, 'ERR_OPTION_INVALID')).toBe(true);
    await expect(registry.connect(a)).rejects.toMatchObject({ code: 'ERR_OPTION_INVALID' });
    await expect(registry.connect(a)).rejects.toMatchObject({ code: 'ERR_OPTION_INVALID' });
  });
});
