import { once } from 'node:events';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wsFramedAdopter } from '../../../apps/websocks/server/framed.js';
import { quietLogger } from '../../../src/fd/logger.js';
import { brandStreamFD } from '../../../src/fd/stream-fd.js';
import { socks5Connect } from '../../../src/protocols/socks5/client-handshake.js';
import { parseAgentConfig } from '../../../src/protocols/websocks/agent-config.js';
import { authorizationValue } from '../../../src/protocols/websocks/password-hash.js';
import { tunnelSteps } from '../../../src/protocols/websocks/socks-stage.js';
import { WebsocksAgent } from '../../../src/websocks/agent.js';
import { WebsocksServer } from '../../../src/websocks/server/websocks-server.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { useEchoBackend } from '../../helpers/echo-fixture.js';
import { closedPort, hashUntilEnd, writeRandom } from '../../helpers/net.js';
import { NGINX, type Nginx, startNginxWsProxy } from '../../helpers/nginx.js';
import { skipNote } from '../../helpers/require-tool.js';
import { readBytes } from './ws-client.js';

// Framed mode: a standard WebSocket client (the ws transport's, masked frames) with the
// WebSocks upgrade headers; the SOCKS5 stage travels inside binary messages.

const echo = useEchoBackend(4000);
const registry = createDefaultRegistry();
const MB20 = 20 * 1024 * 1024;
let server: WebsocksServer;
let nginx: Nginx | null = null;

beforeAll(async () => {
  server = await WebsocksServer.start({
    listen: 'ws://127.0.0.1:0',
    auth: 'alice:secret',
    allowLoopback: true,
    registry,
    framed: wsFramedAdopter,
  });
  if (!NGINX.missing) nginx = await startNginxWsProxy(server.door.address().port);
});

afterAll(async () => {
  await nginx?.stop();
  await server?.close();
});

function framedAddress(port: number, password = 'secret'): string {
  const auth = encodeURIComponent(
    `Authorization:${authorizationValue('alice', password, Date.now())}`,
  );
  return `ws://127.0.0.1:${port}/?ws.subprotocol=socks5&ws.headers=${auth}`;
}

async function framedTransfer(port: number, label: string): Promise<void> {
  const fd = await registry.connect(framedAddress(port));
  const steps = tunnelSteps('127.0.0.1', echo.port);
  fd.write(Buffer.concat([steps.greeting, steps.connect]));
  expect((await readBytes(fd, 2)).toString('hex')).toBe('0500');
  expect((await readBytes(fd, 10))[1]).toBe(0);
  const t0 = performance.now();
  const [sent, got] = await Promise.all([writeRandom(fd, MB20), hashUntilEnd(fd)]);
  const ms = performance.now() - t0;
  expect(got).toEqual({ bytes: MB20, sha256: sent });
  console.log(
    `${label}: 20 MB echoed in ${ms.toFixed(0)} ms (${((20 * 8) / (ms / 1000)).toFixed(0)} Mbit/s each way)`,
  );
  fd.destroy();
}

describe('websocks-server framed mode', () => {
  it('a masked-frame client tunnels 20 MB each way, half-close included, sha256-checked', async () => {
    await framedTransfer(server.door.address().port, 'framed ws');
  });

  it('a wrong password is refused before any frame (the upgrade fails)', async () => {
    await expect(
      registry.connect(framedAddress(server.door.address().port, 'bad')),
    ).rejects.toThrow();
  });

  it.skipIf(NGINX.missing)(`through nginx, half-close included${skipNote(NGINX)}`, async () => {
    await framedTransfer((nginx as Nginx).port, 'framed ws via nginx');
  });
});

describe('framed mode, single-use tickets', () => {
  it("the agent's framed upgrades carry a ticket: a server that allows each header once still takes every connection", async () => {
    const strict = await WebsocksServer.start({
      listen: 'ws://127.0.0.1:0',
      auth: 'alice:secret',
      allowLoopback: true,
      registry,
      framed: wsFramedAdopter,
      replayBudget: 1,
    });
    let agent: WebsocksAgent | undefined;
    try {
      const port = strict.door.address().port;
      // Without a ticket, the same minute's header is good for one connection only.
      const address = framedAddress(port);
      (await registry.connect(address)).destroy();
      await expect(registry.connect(address)).rejects.toThrow();
      expect(strict.stats().refused.replay).toBe(1);

      const socks = await closedPort();
      const entry = `websocks://127.0.0.1:${port}`;
      const config = parseAgentConfig(
        [
          `agent.listen ${socks}`,
          'proxy.server.auth alice:secret',
          'agent.pool 0',
          'proxy.server.list.start',
          entry,
          'proxy.server.list.end',
          'proxy.domain.list.start',
          '127.0.0.1',
          'proxy.domain.list.end',
        ].join('\n'),
        { home: '/nonexistent' },
      );
      agent = await WebsocksAgent.start({
        config,
        registry: createDefaultRegistry(),
        healthCheck: { periodMs: 200, timeoutMs: 3000 },
        cdn: new Map([[entry, { mode: 'framed' as const }]]),
        logger: quietLogger,
      });
      const group = agent.routing.groups()[0];
      for (let i = 0; i < 100 && !group?.available; i++)
        await new Promise((r) => setTimeout(r, 20));
      for (let i = 0; i < 3; i++) {
        const socket = connect(socks, '127.0.0.1');
        await once(socket, 'connect');
        await socks5Connect(brandStreamFD(socket, 'tcp'), {
          target: { host: '127.0.0.1', port: echo.port },
        });
        socket.write('ping');
        expect((await readBytes(brandStreamFD(socket, 'tcp'), 4)).toString()).toBe('ping');
        socket.destroy();
      }
      expect(agent.routing.tunnels.counts.fresh).toBe(3);
      expect(strict.stats().refused.replay).toBe(1);
    } finally {
      await agent?.close();
      await strict.close();
    }
  });
});
