import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tcpProbe } from '../../../src/mesh/local-check.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { catchSocketOptionCopies, countHiddenClasses } from '../../helpers/socket-option-copies.js';

// tcpProbe's net.connect options are copied by net.Socket ({ ...options }) and
// the copy is read in Socket, Duplex and the stream states. In a process whose
// copy site had seen only plain literals, Node 20's V8 gave every copy from the
// tenth probe on a hidden class of its own (32 maps for 40 probes), so those
// reads missed their inline caches: see tcp-socket-options.test.ts and NullProto
// in src/fd/null-proto.ts. This checks the probes' copies share one.

const PROBES = 40;
let restoreDuplex: () => void;
let server: Server;
let port: number;
let baseline: string[];
/** net.Socket's copies of the probes' options (stream.Duplex is called with it). */
let probeCopies: object[];

beforeEach(async () => {
  baseline = snapshotSockets();
  probeCopies = [];
  server = createServer((socket) => socket.destroy());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  port = address.port;
  restoreDuplex = catchSocketOptionCopies((copy) => {
    if (copy.handle === undefined && copy.port === port) probeCopies.push(copy);
  });
});

afterEach(async () => {
  restoreDuplex();
  await new Promise((resolve) => server.close(resolve));
  await expectNoLeakedSockets(baseline);
});

describe('tcpProbe: the options net.Socket copies', () => {
  it('give every probe socket the same hidden class', async () => {
    for (let i = 0; i < PROBES; i++) {
      expect(await tcpProbe('127.0.0.1', port, 5000)).toBe(true);
    }
    expect(probeCopies).toHaveLength(PROBES);
    // One, or two: V8 may move a class once (its in-object slack settles).
    expect(countHiddenClasses(probeCopies)).toBeLessThanOrEqual(2);
  });
});
