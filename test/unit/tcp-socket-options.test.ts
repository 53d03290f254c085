import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseAddress } from '../../src/fd/address.js';
import type { ServerFD } from '../../src/fd/server-fd.js';
import type { StreamFD } from '../../src/fd/stream-fd.js';
import { dialTcpNow } from '../../transports/tcp/dialer.js';
import { listenTcp } from '../../transports/tcp/listener.js';
import { expectNoLeakedSockets, snapshotSockets } from '../helpers/handles.js';
import { catchSocketOptionCopies, countHiddenClasses } from '../helpers/socket-option-copies.js';

// net.Socket copies the options it is given ({ ...options }) and reads that copy
// in Socket, Duplex, ReadableState and WritableState. With plain-object options,
// Node 20's V8 gave each copy a hidden class of its own after the first few
// sockets, so each of those reads missed its inline cache (~20 us per
// connection): see NullProto in src/fd/null-proto.ts. This checks
// the copies of the sockets the TCP transport builds share their hidden class.

const SOCKETS = 40;

let listener: ServerFD;
let accepted: StreamFD[];
let baseline: string[];
let restoreDuplex: () => void;
let copies: { accepted: object[]; dialled: object[] };

beforeEach(async () => {
  baseline = snapshotSockets();
  copies = { accepted: [], dialled: [] };
  restoreDuplex = catchSocketOptionCopies((o) => {
    if (o.onread !== undefined) (o.handle ? copies.accepted : copies.dialled).push(o);
  });
  listener = await listenTcp(parseAddress('tcp://127.0.0.1:0'));
  accepted = [];
  listener.on('connection', (fd) => accepted.push(fd));
});

afterEach(async () => {
  restoreDuplex();
  for (const fd of accepted) fd.destroy();
  await listener.close();
  await expectNoLeakedSockets(baseline);
});

describe('tcp sockets: the options net.Socket copies', () => {
  it('give every accepted and every dialled socket the same hidden class', async () => {
    const address = parseAddress(`tcp://127.0.0.1:${listener.address().port}`);
    for (let i = 0; i < SOCKETS; i++) {
      const fd = dialTcpNow(address);
      await once(fd, 'connect');
      fd.destroy();
      await once(fd, 'close');
    }
    const deadline = Date.now() + 10_000;
    while (copies.accepted.length < SOCKETS && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(copies.dialled).toHaveLength(SOCKETS);
    expect(copies.accepted).toHaveLength(SOCKETS);
    // One map each, or two: V8 may move a class once (its in-object slack settles).
    expect(countHiddenClasses(copies.dialled)).toBeLessThanOrEqual(2);
    expect(countHiddenClasses(copies.accepted)).toBeLessThanOrEqual(2);
  });
});
