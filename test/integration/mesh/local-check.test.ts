import { once } from 'node:events';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { tcpProbe } from '../../../src/mesh/local-check.js';
import { closedPort } from '../../helpers/net.js';

// The node delegate's default local probe on real loopback sockets.

describe('tcpProbe', () => {
  it('is true for a listening port and false for a closed one', async () => {
    const server = createServer((s) => s.destroy());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    expect(await tcpProbe('127.0.0.1', address.port, 1000)).toBe(true);
    await new Promise((r) => server.close(r));
    expect(await tcpProbe('127.0.0.1', await closedPort(), 1000)).toBe(false);
  });
});
