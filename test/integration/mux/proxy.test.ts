import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ProxyEngine } from '../../../src/proxy/proxy.js';
import { RoundRobinPicker } from '../../../src/proxy/round-robin.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { useEchoBackend } from '../../helpers/echo-fixture.js';
import { hashUntilEnd, writeRandom } from '../../helpers/net.js';

// tcp → proxy A → mux+tcp → proxy B → tcp echo, 100 MB each way, byte-exact:
// the proxy engine runs over a mux stream unchanged.

const MB = 1024 * 1024;
const registry = createDefaultRegistry();
const echo = useEchoBackend(5000);

describe('proxy engine over mux+tcp', () => {
  it('100 MB tcp → (mux+tcp) → tcp arrives byte-exact both ways', async () => {
    const tunnelEnd = await registry.listen('mux+tcp://127.0.0.1:0');
    const exit = new ProxyEngine({
      server: tunnelEnd,
      registry,
      picker: new RoundRobinPicker([`tcp://127.0.0.1:${echo.port}`]),
    });
    const front = await registry.listen('tcp://127.0.0.1:0');
    const entry = new ProxyEngine({
      server: front,
      registry,
      picker: new RoundRobinPicker([`mux+tcp://127.0.0.1:${tunnelEnd.address().port}`]),
    });
    const client = await registry.connect(`tcp://127.0.0.1:${front.address().port}`);
    const started = Date.now();
    const [sent, received] = await Promise.all([
      writeRandom(client, 100 * MB),
      hashUntilEnd(client),
    ]);
    const seconds = (Date.now() - started) / 1000;
    console.log(
      `tcp→mux+tcp→tcp echo: 100 MB each way in ${seconds.toFixed(2)} s (${(800 / seconds) | 0} Mbit/s per direction)`,
    );
    expect(received.bytes).toBe(100 * MB);
    expect(received.sha256).toBe(sent);
    if (!client.closed) await once(client, 'close');
    await entry.close();
    await exit.close();
    for (const stats of [entry.stats(), exit.stats()]) {
      expect(stats.accepted).toBe(1);
      expect(stats.active).toBe(0);
      expect(stats.connectFailures).toBe(0);
      expect(stats.bytesIn).toBe(100 * MB);
      expect(stats.bytesOut).toBe(100 * MB);
    }
  }, 120_000);
});
