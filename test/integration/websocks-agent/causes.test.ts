import { once } from 'node:events';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/fd/logger.js';
import { brandStreamFD } from '../../../src/fd/stream-fd.js';
import { socks5Connect } from '../../../src/protocols/socks5/client-handshake.js';
import { parseAgentConfig } from '../../../src/protocols/websocks/agent-config.js';
import { WebsocksAgent } from '../../../src/websocks/agent.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { closedPort } from '../../helpers/net.js';

/** Each way a tunnel fails is logged once with a cause an operator can search for. */
const agents: WebsocksAgent[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) await a.close();
});

async function failingRequest(server: string, hc: 'on' | 'off'): Promise<string> {
  const socks = await closedPort();
  const config = parseAgentConfig(
    [
      `agent.listen ${socks}`,
      'proxy.server.auth alice:secret',
      'agent.pool 0',
      `proxy.server.hc ${hc}`,
      'proxy.server.list.start',
      server,
      'proxy.server.list.end',
      'proxy.domain.list.start',
      'example.com',
      'proxy.domain.list.end',
    ].join('\n'),
    { home: '/' },
  );
  const logs: string[] = [];
  const agent = await WebsocksAgent.start({
    config,
    registry: createDefaultRegistry(),
    logger: createLogger({ threshold: 'info', write: (l) => logs.push(l) }),
    healthCheck: { periodMs: 100, timeoutMs: 300 },
    retries: 0,
  });
  agents.push(agent);
  await new Promise((r) => setTimeout(r, 300));
  const s = connect(socks, '127.0.0.1');
  await once(s, 'connect');
  await expect(
    socks5Connect(brandStreamFD(s, 'tcp'), { target: { host: 'example.com', port: 80 } }),
  ).rejects.toThrow(/0x0[1-8]|closed|ended/);
  return logs.join('\n');
}

describe('tunnel failure causes in the log', () => {
  it('every server of the list DOWN → "server DOWN", no attempt to dial', async () => {
    const port = await closedPort();
    const log = await failingRequest(`websocks://127.0.0.1:${port}`, 'on');
    // Never UP (servers start DOWN until a check passes), so no dial was tried.
    expect(log).not.toMatch(/tunnel-failed/);
    expect(log).toMatch(/tunnel-no-server .*cause="server DOWN"/);
  });

  it('a server name that does not resolve → "DNS"', async () => {
    const log = await failingRequest('websocks://no-such-host.invalid:80', 'off');
    expect(log).toMatch(/tunnel-failed .*cause=DNS/);
  });

  it('a server that refuses the connection → "connect refused"', async () => {
    const port = await closedPort();
    const log = await failingRequest(`websocks://127.0.0.1:${port}`, 'off');
    expect(log).toMatch(/tunnel-failed .*cause="connect refused"/);
  });
});
