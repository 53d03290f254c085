import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadAgentConfigText } from '../../../apps/websocks/agent/config-file.js';
import { AgentConfigError } from '../../../src/protocols/websocks/errors.js';
import { fcParams } from '../../helpers/fc.js';

const LINES = `
# a reference agent file plus extensions
agent.listen 11080
agent.httpconnect.listen 18080
proxy.server.auth alice:pw
agent.pool 3
agent.users bob:x,carol:y
agent.default TUNNEL
agent.ping.timeout 2500
agent.pong.interval 9000
agent.early-reply on
proxy.server.hc.period 1000
proxy.server.hc.timeout 400
proxy.server.cdn websockss://origin.example:443 dial=203.0.113.7:443 sni=edge.example host=origin.example path=/s header=X-A:1
proxy.server.list.start TUNNEL
websockss://origin.example:443
proxy.server.list.end
proxy.domain.list.start TUNNEL
example.com
[~/gfw.txt]
proxy.domain.list.end
`;

const JSON_FORM = JSON.stringify({
  'agent.listen': 11080,
  'agent.httpconnect.listen': 18080,
  'proxy.server.auth': 'alice:pw',
  'agent.pool': 3,
  'agent.users': ['bob:x', 'carol:y'],
  'agent.default': 'TUNNEL',
  'agent.ping.timeout': 2500,
  'agent.pong.interval': 9000,
  'agent.early-reply': true,
  'proxy.server.hc.period': 1000,
  'proxy.server.hc.timeout': 400,
  'proxy.server.cdn': {
    'websockss://origin.example:443': {
      dial: '203.0.113.7:443',
      sni: 'edge.example',
      host: 'origin.example',
      path: '/s',
      headers: { 'X-A': '1' },
    },
  },
  'proxy.server.list': { TUNNEL: ['websockss://origin.example:443'] },
  'proxy.domain.list': { TUNNEL: ['example.com', '[~/gfw.txt]'] },
});

const readFile = (path: string): string => {
  if (path !== '/home/u/gfw.txt') throw new Error(`ENOENT ${path}`);
  return Buffer.from('[AutoProxy]\n||blocked.example\n@@||ok.blocked.example\n').toString('base64');
};

describe('agent config file: line form, JSON form, extensions', () => {
  it('the JSON form means exactly what the line form does', () => {
    const a = loadAgentConfigText(LINES, { home: '/home/u', json: false, readFile });
    const b = loadAgentConfigText(JSON_FORM, { home: '/home/u', json: true, readFile });
    for (const x of [a, b]) {
      expect(x.config.socksListen).toBe(11080);
      expect(x.config.poolSize).toBe(3);
      expect([...(x.users ?? [])]).toEqual([
        ['bob', 'x'],
        ['carol', 'y'],
      ]);
      expect(x.otherwise).toEqual({ proxy: 'TUNNEL' });
      expect(x.earlyReply).toBe(true);
      expect([x.pingTimeoutMs, x.pongIntervalMs, x.healthPeriodMs, x.healthTimeoutMs]).toEqual([
        2500, 9000, 1000, 400,
      ]);
      expect(x.cdn.get('websockss://origin.example:443')).toEqual({
        dial: '203.0.113.7:443',
        sni: 'edge.example',
        hostHeader: 'origin.example',
        path: '/s',
        headers: [['X-A', '1']],
      });
      // The gfwlist file was read (base64) and parsed: two rules.
      expect(x.abpFiles.get('/home/u/gfw.txt')?.rules.length).toBe(2);
    }
    expect(b.config.serverLists).toEqual(
      a.config.serverLists.map((l) => ({
        ...l,
        servers: l.servers.map((s) => ({ ...s, line: expect.any(Number) })),
      })),
    );
  });

  it('errors name the line, extension lines included', () => {
    expect(() =>
      loadAgentConfigText('proxy.server.auth a:b\nagent.ping.timeout soon\n', {
        home: '/h',
        json: false,
      }),
    ).toThrow(/line 2: agent\.ping\.timeout/);
    expect(() =>
      loadAgentConfigText('proxy.server.auth a:b\nagent.early-reply yes\n', {
        home: '/h',
        json: false,
      }),
    ).toThrow(/line 2: agent\.early-reply: want on or off/);
    // Off unless asked for.
    expect(
      loadAgentConfigText('proxy.server.auth a:b\n', { home: '/h', json: false }).earlyReply,
    ).toBe(false);
    expect(() =>
      loadAgentConfigText(
        'proxy.server.auth a:b\n\nproxy.domain.list.start\n[/nope]\nproxy.domain.list.end\nproxy.server.list.start\nwebsocks://a:1\nproxy.server.list.end\n',
        {
          home: '/h',
          json: false,
          readFile,
        },
      ),
    ).toThrow(/line 4: cannot read ABP file/);
  });

  it('any text or JSON: a config or an AgentConfigError, nothing else', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc
            .array(
              fc.constantFrom(
                'agent.listen 1080',
                'agent.users x',
                'agent.default',
                'proxy.server.cdn x',
                'proxy.server.cdn websocks://a:1 bogus=1',
                'proxy.server.auth a:b',
                'proxy.server.list.start',
                'proxy.server.list.end',
                'websocks://a:1',
                '[x]',
              ),
              { maxLength: 12 },
            )
            .map((l) => l.join('\n')),
        ),
        fc.boolean(),
        (text, json) => {
          try {
            loadAgentConfigText(text, { home: '/h', json, readFile });
          } catch (err) {
            expect(err).toBeInstanceOf(AgentConfigError);
          }
        },
      ),
      fcParams({ numRuns: 300 }),
    );
  });
});
