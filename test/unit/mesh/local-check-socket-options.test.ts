import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import stream from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tcpProbe } from '../../../src/mesh/local-check.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';

// tcpProbe's net.connect options are copied by net.Socket ({ ...options }) and
// the copy is read in Socket, Duplex and the stream states. In a process whose
// copy site had seen only plain literals, Node 20's V8 gave every copy from the
// tenth probe on a hidden class of its own (32 maps for 40 probes), so those
// reads missed their inline caches: see tcp-socket-options.test.ts and NullProto
// in transports/tcp/direct-reader.ts. This checks the probes' copies share one.

setFlagsFromString('--allow-natives-syntax');
// A V8 intrinsic is only reachable from source compiled after the flag is set.
const haveSameMap = new Function('a', 'b', 'return %HaveSameMap(a, b);') as (
  a: object,
  b: object,
) => boolean;

const PROBES = 40;
const RealDuplex = stream.Duplex;
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
  // net.Socket looks stream.Duplex up at each call, so a stand-in sees every copy.
  function Spy(this: stream.Duplex, options?: stream.DuplexOptions) {
    const copy = options as { port?: unknown; handle?: unknown } | undefined;
    if (copy !== undefined && copy.handle === undefined && copy.port === port) {
      probeCopies.push(copy);
    }
    return RealDuplex.call(this, options);
  }
  Object.setPrototypeOf(Spy, RealDuplex);
  Spy.prototype = RealDuplex.prototype;
  (stream as { Duplex: unknown }).Duplex = Spy;
});

afterEach(async () => {
  (stream as { Duplex: unknown }).Duplex = RealDuplex;
  await new Promise((resolve) => server.close(resolve));
  await expectNoLeakedSockets(baseline);
});

describe('tcpProbe: the options net.Socket copies', () => {
  it('give every probe socket the same hidden class', async () => {
    for (let i = 0; i < PROBES; i++) {
      expect(await tcpProbe('127.0.0.1', port, 5000)).toBe(true);
    }
    expect(probeCopies).toHaveLength(PROBES);
    const maps: object[] = [];
    for (const copy of probeCopies) {
      if (!maps.some((m) => haveSameMap(m, copy))) maps.push(copy);
    }
    // One, or two: V8 may move a class once (its in-object slack settles).
    expect(maps.length).toBeLessThanOrEqual(2);
  });
});
