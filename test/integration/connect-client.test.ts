import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isVproxyError } from '../../src/fd/errors.js';
import { probe } from '../../src/proxy/connect-client.js';
import { createDefaultRegistry } from '../../transports/default-registry.js';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { expectNoLeakedSockets, snapshotSockets } from '../helpers/handles.js';
import { closedPort, startServer, stopServer } from '../helpers/net.js';
import { until } from '../helpers/wait.js';

const registry = createDefaultRegistry();
let certs: TestCerts;
let baseline: string[];

beforeAll(() => {
  baseline = snapshotSockets();
  certs = makeTestCerts();
});

afterAll(async () => {
  certs.dispose();
  await expectNoLeakedSockets(baseline);
});

describe('ConnectClient probe', () => {
  it('succeeds on a listening tcp port and resets the probe connection', async () => {
    let peerSawReset = false;
    const server = await startServer((s) => {
      s.on('error', (e: NodeJS.ErrnoException) => {
        peerSawReset = e.code === 'ECONNRESET';
      });
      s.resume();
    });
    const result = await probe(registry, `127.0.0.1:${server.port}`, { timeoutMs: 1000 });
    expect(result.ok).toBe(true);
    expect(result.latencyMs).toBeGreaterThanOrEqual(0);
    try {
      // Waited for, not slept on: a process stalled 80 ms after the probe (a loaded CI
      // machine) ran a 50 ms sleep before the server had accepted and read the reset.
      await until('the server sees the reset', () => peerSawReset, 5000);
    } finally {
      await stopServer(server.server, server.sockets);
    }
  });

  it('fails fast on a refused port', async () => {
    const result = await probe(registry, `127.0.0.1:${await closedPort()}`, { timeoutMs: 1000 });
    expect(result.ok).toBe(false);
    expect(result.error).toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('times out when the tls handshake never completes (layers count)', async () => {
    const silent = await startServer((s) => s.on('error', () => {}));
    const result = await probe(registry, `tls://localhost:${silent.port}?ca=${certs.caCert}`, {
      timeoutMs: 200,
    });
    expect(result.ok).toBe(false);
    expect(isVproxyError(result.error, 'ERR_CONNECT_TIMEOUT')).toBe(true);
    expect(result.latencyMs).toBeGreaterThanOrEqual(190);
    await stopServer(silent.server, silent.sockets);
  });

  it('fails on an untrusted certificate', async () => {
    const tls = await registry.listen(`tls://127.0.0.1:0?cert=${certs.cert}&cert-key=${certs.key}`);
    tls.on('handshakeError', () => {});
    const result = await probe(registry, `tls://localhost:${tls.address().port}`, {
      timeoutMs: 1000,
    });
    expect(result.ok).toBe(false);
    expect(result.error?.message).toMatch(/certificate/i);
    const trusted = await probe(
      registry,
      `tls://localhost:${tls.address().port}?ca=${certs.caCert}`,
      {
        timeoutMs: 1000,
      },
    );
    expect(trusted.ok).toBe(true);
    await tls.close();
  });

  it('stops when aborted', async () => {
    const silent = await startServer((s) => s.on('error', () => {}));
    const controller = new AbortController();
    const pending = probe(registry, `tls://localhost:${silent.port}`, {
      timeoutMs: 5000,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 50);
    const result = await pending;
    expect(isVproxyError(result.error, 'ERR_CONNECT_ABORTED')).toBe(true);
    await stopServer(silent.server, silent.sockets);
  });

  it('throws on a malformed address instead of reporting a probe failure', async () => {
    await expect(probe(registry, 'nope', { timeoutMs: 100 })).rejects.toMatchObject({
      code: 'ERR_ADDRESS_INVALID',
    });
  });
});
