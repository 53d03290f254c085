import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { hashUntilEnd, writeRandom } from '../../helpers/net.js';

// Layers compose over any transport: WebSocket framing over KCP streams.

const registry = createDefaultRegistry();
let baseline: string[];

beforeAll(() => {
  baseline = snapshotSockets();
});

afterAll(async () => {
  await expectNoLeakedSockets(baseline, 4000);
});

describe.each(['framed', 'raw'])('ws+kcp, %s', (wsMode) => {
  it('echoes 4 MB byte-exact', async () => {
    const server = await registry.listen('ws+kcp://127.0.0.1:0/t?mode=fast3');
    server.on('connection', (fd) => {
      fd.on('error', () => {});
      fd.pipe(fd);
    });
    const client = await registry.connect(
      `ws+kcp://127.0.0.1:${server.address().port}/t?mode=fast3&ws-mode=${wsMode}`,
    );
    expect(client.kind).toBe('ws+kcp');
    const [sent, got] = await Promise.all([
      writeRandom(client, 4 * 1024 * 1024),
      hashUntilEnd(client),
    ]);
    expect(got.sha256).toBe(sent);
    client.destroy();
    await server.close();
  });
});
