import { once } from 'node:events';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { makeTestCerts, type TestCerts } from '../../helpers/certs.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { catchSocketOptionCopies, countHiddenClasses } from '../../helpers/socket-option-copies.js';

// The TCP transport had to give net.Socket prototype-less options: with plain
// literals, Node 20's V8 gave each socket's copy of them a hidden class of its
// own and every read of the copy missed (NullProto in
// src/fd/null-proto.ts). The tls layer's options are copied twice
// per socket: by TLSSocket ({ ...opts }, kept as _tlsOptions; ours on the
// server side, tls.connect's own literal on the client side) and by net.Socket
// (TLSSocket's own literal). Measured, those copies share their hidden classes
// with plain literals, so the layer keeps them; this checks it stays so.

const CONNECTIONS = 40;
const registry = createDefaultRegistry();
let restoreDuplex: () => void;
let certs: TestCerts;
let baseline: string[];
/** net.Socket's copies of TLSSocket's options (the only ones with manualStart). */
const tlsSocketCopies: object[] = [];

beforeAll(() => {
  baseline = snapshotSockets();
  certs = makeTestCerts();
  restoreDuplex = catchSocketOptionCopies((copy) => {
    if (copy.manualStart === true) tlsSocketCopies.push(copy);
  });
});

afterAll(async () => {
  restoreDuplex();
  certs.dispose();
  await expectNoLeakedSockets(baseline, 5000);
});

/** TLSSocket's copy of its options (Node's `_tlsOptions`). */
function tlsOptionsOf(fd: StreamFD): object {
  const copy = (fd as unknown as TLSSocket & { _tlsOptions?: object })._tlsOptions;
  if (copy === undefined) throw new Error(`a ${fd.kind} stream without _tlsOptions`);
  return copy;
}

describe('tls layer: the option copies of its sockets', () => {
  it('share their hidden classes on both sides', async () => {
    const server = await registry.listen(
      `tls://127.0.0.1:0?cert=${certs.cert}&cert-key=${certs.key}`,
    );
    const accepted: StreamFD[] = [];
    const dialled: StreamFD[] = [];
    try {
      const url = `tls://localhost:${server.address().port}?ca=${certs.caCert}`;
      for (let i = 0; i < CONNECTIONS; i++) {
        const next = once(server, 'connection') as Promise<[StreamFD]>;
        const fd = await registry.connect(url);
        dialled.push(fd);
        const [peer] = await next;
        accepted.push(peer);
        fd.destroy();
        peer.destroy();
      }
    } finally {
      for (const fd of [...dialled, ...accepted]) fd.destroy();
      await server.close();
    }
    expect(tlsSocketCopies).toHaveLength(2 * CONNECTIONS);
    // One map each, or two: V8 may move a class once (its in-object slack settles).
    expect(countHiddenClasses(tlsSocketCopies)).toBeLessThanOrEqual(2);
    expect(countHiddenClasses(dialled.map(tlsOptionsOf))).toBeLessThanOrEqual(2);
    expect(countHiddenClasses(accepted.map(tlsOptionsOf))).toBeLessThanOrEqual(2);
  });
});
