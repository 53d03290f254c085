import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAddress } from '../../../src/fd/address.js';
import { isVproxyError } from '../../../src/fd/errors.js';
import type { ServerFD } from '../../../src/fd/server-fd.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { makeTestCerts, type TestCerts } from '../../helpers/certs.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';

// A client that connects and leaves before its ClientHello must cost the tls
// listener nothing past its own close: before the fix each one held two fds and a
// TLS context until the 10 s handshake deadline (issue 10's flood table).

const registry = createDefaultRegistry();
let certs: TestCerts;
let server: ServerFD;
let port: number;
const baseline = snapshotSockets();

beforeAll(async () => {
  certs = makeTestCerts();
  server = await registry.listen(
    parseAddress(`tls://127.0.0.1:0?cert=${certs.cert}&cert-key=${certs.key}`),
    // A long deadline: anything released in this test was released by the close.
    { handshakeTimeoutMs: 60_000 },
  );
  port = server.address().port;
});

afterAll(async () => {
  await server.close();
  certs.dispose();
  await expectNoLeakedSockets(baseline);
});

function collectHandshakeErrors(n: number): Promise<Error[]> {
  const errors: Error[] = [];
  return new Promise((resolve) => {
    const on = (err: Error) => {
      errors.push(err);
      if (errors.length === n) {
        server.off('handshakeError', on);
        resolve(errors);
      }
    };
    server.on('handshakeError', on);
  });
}

function openThen(how: (s: Socket) => void): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => how(s));
    s.on('error', () => {});
    s.on('close', () => resolve());
  });
}

describe('tls listener: a client gone before the handshake', () => {
  it('is released when it half-closes or resets, not at the handshake deadline', async () => {
    const errors = collectHandshakeErrors(40);
    const clients: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) clients.push(openThen((s) => s.end()));
    for (let i = 0; i < 20; i++) clients.push(openThen((s) => s.destroy()));
    // The test's 30 s timeout only detects a hang; the 60 s deadline would be far later.
    const got = await errors;
    await Promise.all(clients);
    for (const err of got) {
      expect(isVproxyError(err) && err.code).toBe('ERR_HANDSHAKE_CLOSED');
    }
  });

  it('still completes the handshake of a client that stays', async () => {
    const tls = await import('node:tls');
    const accepted = once(server, 'connection');
    const client = tls.connect({ port, host: '127.0.0.1', ca: await readCa() });
    await once(client, 'secureConnect');
    const [fd] = (await accepted) as [import('node:stream').Duplex];
    client.write('ping');
    const [chunk] = (await once(fd, 'data')) as [Buffer];
    expect(chunk.toString()).toBe('ping');
    client.destroy();
    fd.destroy();
  });
});

async function readCa(): Promise<Buffer> {
  const { readFile } = await import('node:fs/promises');
  return readFile(certs.caCert);
}

describe('tls listener: handshakes in progress are bounded', () => {
  it('drops the oldest silent client past the bound, and a prompt client still gets in', async () => {
    const small = await registry.listen(
      parseAddress(`tls://127.0.0.1:0?cert=${certs.cert}&cert-key=${certs.key}`),
      { handshakeTimeoutMs: 60_000, maxPendingHandshakes: 10 },
    );
    const smallPort = small.address().port;
    const limitErrors: Error[] = [];
    small.on('handshakeError', (err: Error) => {
      if (isVproxyError(err) && err.code === 'ERR_HANDSHAKE_LIMIT') limitErrors.push(err);
    });
    // 30 silent clients: each connects and never sends a ClientHello.
    const silent: Socket[] = [];
    const closedByServer: Promise<void>[] = [];
    for (let i = 0; i < 30; i++) {
      const s = connect(smallPort, '127.0.0.1');
      s.on('error', () => {});
      closedByServer.push(once(s, 'close').then(() => undefined));
      silent.push(s);
      await once(s, 'connect');
    }
    // The 20 oldest are dropped by the listener (their sockets close), the newest 10 stay.
    await Promise.all(closedByServer.slice(0, 20));
    expect(limitErrors).toHaveLength(20);
    expect(silent.slice(20).every((s) => !s.destroyed)).toBe(true);
    // A real client still completes its handshake (it evicts one silent client).
    const tls = await import('node:tls');
    const accepted = once(small, 'connection');
    const client = tls.connect({ port: smallPort, host: '127.0.0.1', ca: await readCa() });
    await once(client, 'secureConnect');
    const [fd] = (await accepted) as [import('node:stream').Duplex];
    client.destroy();
    fd.destroy();
    for (const s of silent) s.destroy();
    await small.close();
  });
});
