import { describe, expect, it } from 'vitest';
import { isVproxyError } from '../../src/fd/errors.js';
import { createDefaultRegistry } from '../../transports/default-registry.js';

// Issue 14: `--backend foo://x` complained about the port, not the unknown
// scheme, and `add server … address foo://…` was accepted. Registry.parse
// checks what a user typed against the transports, scheme first.

const registry = createDefaultRegistry();

function failure(text: string): { code: string; message: string } {
  try {
    registry.parse(text);
  } catch (err) {
    if (isVproxyError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error(`${text} parsed`);
}

describe('Registry.parse', () => {
  it('names an unknown scheme before reading host and port', () => {
    expect(failure('foo://x')).toMatchObject({
      code: 'ERR_SCHEME_UNKNOWN',
      message: expect.stringMatching(/^unknown scheme "foo": no stream transport "foo"; known: /),
    });
    expect(failure('tls+nope://h:1').message).toMatch(/^unknown scheme "tls\+nope"/);
  });

  it('refuses options the transport does not take', () => {
    expect(failure('tcp://127.0.0.1:1?nope=1')).toMatchObject({ code: 'ERR_OPTION_UNKNOWN' });
  });

  it('a known scheme with a bad address still gets the address error', () => {
    expect(failure('tcp://x')).toMatchObject({
      code: 'ERR_ADDRESS_INVALID',
      message: 'invalid address "tcp://x": missing port (expected "host:port")',
    });
  });

  it('gives the parsed address', () => {
    expect(registry.parse('127.0.0.1:80')).toMatchObject({
      scheme: 'tcp',
      host: '127.0.0.1',
      port: 80,
    });
    expect(registry.parse('kcp://127.0.0.1:4000?key=k')).toMatchObject({
      scheme: 'kcp',
      options: { key: 'k' },
    });
  });
});
