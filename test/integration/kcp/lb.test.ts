import { describe, expect, it } from 'vitest';
import { ServerGroup } from '../../../src/lb/server-group.js';
import { TcpLB } from '../../../src/lb/tcp-lb.js';
import { Upstream } from '../../../src/lb/upstream.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { useEchoBackend } from '../../helpers/echo-fixture.js';
import { hashUntilEnd, writeRandom } from '../../helpers/net.js';

// TcpLB unchanged over KCP: listening on kcp://, and forwarding to a kcp:// backend.

const MB = 1024 * 1024;
const registry = createDefaultRegistry();
const echo = useEchoBackend(8000);

function upstreamTo(name: string, address: string): { ups: Upstream; sg: ServerGroup } {
  const sg = new ServerGroup({
    name: `sg-${name}`,
    healthCheck: { timeoutMs: 100, periodMs: 1000, up: 1, down: 1, check: { kind: 'none' } },
  });
  sg.add('b', address);
  const ups = new Upstream(`ups-${name}`);
  ups.add(sg);
  return { ups, sg };
}

async function roundTrip(address: string, bytes: number): Promise<void> {
  const client = await registry.connect(address);
  const [sent, received] = await Promise.all([writeRandom(client, bytes), hashUntilEnd(client)]);
  expect(received.bytes).toBe(bytes);
  expect(received.sha256).toBe(sent);
}

describe('TcpLB over KCP', () => {
  it('listens on kcp:// with a tcp backend', async () => {
    const { ups, sg } = upstreamTo('kcp-front', `127.0.0.1:${echo.port}`);
    const lb = await TcpLB.start({
      name: 'lb-kcp',
      address: 'kcp://127.0.0.1:0',
      upstream: ups,
      registry,
    });
    await roundTrip(`kcp://127.0.0.1:${lb.bound().port}?session-idle=50`, 8 * MB);
    await lb.close();
    await sg.close();
  }, 30_000);

  it('forwards to a kcp:// backend in a ServerGroup', async () => {
    const kcpEcho = await registry.listen('kcp://127.0.0.1:0');
    kcpEcho.on('connection', (fd) => {
      fd.on('error', () => {});
      fd.pipe(fd);
    });
    const { ups, sg } = upstreamTo(
      'kcp-back',
      `kcp://127.0.0.1:${kcpEcho.address().port}?session-idle=50`,
    );
    const lb = await TcpLB.start({
      name: 'lb-to-kcp',
      address: 'tcp://127.0.0.1:0',
      upstream: ups,
      registry,
    });
    await roundTrip(`tcp://127.0.0.1:${lb.bound().port}`, 8 * MB);
    await lb.close();
    await sg.close();
    await kcpEcho.close();
  }, 30_000);
});
