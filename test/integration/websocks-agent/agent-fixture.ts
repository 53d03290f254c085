import type { Duplex } from 'node:stream';
import { expect } from 'vitest';
import {
  type AgentConfig,
  parseAgentConfig,
} from '../../../src/protocols/websocks/agent-config.js';
import { hashUntilEnd, writeRandom } from '../../helpers/net.js';

/**
 * An agent config in the reference's line form: one server list and one
 * domain list (both DEFAULT), the test user, and any other `lines`.
 */
export function agentConfig(options: {
  readonly servers: readonly string[];
  readonly rules: readonly string[];
  readonly lines?: readonly string[];
  readonly auth?: string;
}): AgentConfig {
  const text = [
    `proxy.server.auth ${options.auth ?? 'alice:secret'}`,
    ...(options.lines ?? []),
    'proxy.server.list.start',
    ...options.servers,
    'proxy.server.list.end',
    'proxy.domain.list.start',
    ...options.rules,
    'proxy.domain.list.end',
  ].join('\n');
  return parseAgentConfig(text, { home: '/nonexistent' });
}

/** Write `bytes` random bytes (then FIN) and expect exactly them back (an echo target). */
export async function roundTrip(socket: Duplex, bytes: number): Promise<void> {
  const got = hashUntilEnd(socket);
  const sent = await writeRandom(socket, bytes);
  const r = await got;
  expect(r.bytes).toBe(bytes);
  expect(r.sha256).toBe(sent);
}
