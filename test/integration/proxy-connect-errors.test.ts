import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAddress } from '../../src/fd/address.js';
import { isVproxyError } from '../../src/fd/errors.js';
import { errorFields } from '../../src/fd/logger.js';
import type { ServerFD } from '../../src/fd/server-fd.js';
import type { BackendPicker, SessionOutcome } from '../../src/proxy/backend-picker.js';
import { BackendConnectError } from '../../src/proxy/errors.js';
import { ProxyEngine } from '../../src/proxy/proxy.js';
import { createDefaultRegistry } from '../../transports/default-registry.js';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { closedPort, readAll, startServer, stopServer } from '../helpers/net.js';

// Issue 11 item 3: a backend that refuses and one that never answers fail with
// different codes (both were ERR_CLOSED), and the OS detail stays in the cause.

const registry = createDefaultRegistry();
let certs: TestCerts;
let silent: Awaited<ReturnType<typeof startServer>>;

beforeAll(async () => {
  certs = makeTestCerts();
  // Accepts and never says a word: a TLS handshake to it can only time out.
  silent = await startServer((s) => s.on('error', () => {}));
});

afterAll(async () => {
  await stopServer(silent.server, silent.sockets);
  certs.dispose();
});

/** The error a client's session failed with when its only backend is `backend`. */
async function failureFor(backend: string): Promise<Error> {
  const outcomes: SessionOutcome[] = [];
  const picker: BackendPicker = {
    pick: () => ({ address: parseAddress(backend), release: (o) => outcomes.push(o) }),
  };
  const server: ServerFD = await registry.listen('tcp://127.0.0.1:0');
  const proxy = new ProxyEngine({ server, registry, picker, connectTimeoutMs: 300 });
  const client = await registry.connect(`tcp://127.0.0.1:${server.address().port}`);
  await readAll(client);
  client.destroy();
  await proxy.close();
  expect(outcomes).toHaveLength(1);
  expect(outcomes[0]?.connected).toBe(false);
  return outcomes[0]?.connectError as Error;
}

describe('backend connect failures carry what happened', () => {
  it('refused → ERR_CONNECT_REFUSED, ECONNREFUSED kept in the cause for the log', async () => {
    const err = await failureFor(`tcp://127.0.0.1:${await closedPort()}`);
    expect(err).toBeInstanceOf(BackendConnectError);
    expect(isVproxyError(err, 'ERR_CONNECT_REFUSED')).toBe(true);
    expect(err.message).toMatch(/^backend tcp:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/);
    expect(errorFields(err)).toMatchObject({ code: 'ECONNREFUSED', syscall: 'connect' });
  });

  it('never answering → ERR_CONNECT_TIMEOUT after the connect timeout', async () => {
    const started = performance.now();
    const err = await failureFor(`tls://localhost:${silent.port}?ca=${certs.caCert}`);
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    expect(err).toBeInstanceOf(BackendConnectError);
    expect(isVproxyError(err, 'ERR_CONNECT_TIMEOUT')).toBe(true);
    expect(err.message).toMatch(/timed out after \d+ ms/);
  });

  it('the two codes differ (and neither is ERR_CLOSED)', async () => {
    const refused = await failureFor(`tcp://127.0.0.1:${await closedPort()}`);
    const timedOut = await failureFor(`tls://localhost:${silent.port}?ca=${certs.caCert}`);
    const codes = [refused, timedOut].map((e) => (e as BackendConnectError).code);
    expect(new Set(codes).size).toBe(2);
    expect(codes).not.toContain('ERR_CLOSED');
  });
});
