import { afterEach } from 'vitest';
import type { MuxOptions } from '../../../transports/mux/config.js';
import { MuxSession } from '../../../transports/mux/session.js';
import { memoryPair } from './pair.js';
import { RawPeer } from './raw-peer.js';

/**
 * `start(role, options)`: a session against a hand-driven peer (RawPeer) over an in-memory
 * pipe, no sockets; `closed` resolves with what ended it. Every session is destroyed after
 * each test of the calling file.
 */
export function sessionHarness() {
  const sessions: MuxSession[] = [];
  afterEach(() => {
    for (const s of sessions.splice(0)) s.destroy();
  });
  return function start(role: 'client' | 'server', options: MuxOptions = {}) {
    const [ours, theirs] = memoryPair();
    const session =
      role === 'client' ? MuxSession.client(ours, options) : MuxSession.server(ours, options);
    sessions.push(session);
    const closed = new Promise<Error | undefined>((resolve) => session.once('close', resolve));
    return { session, peer: new RawPeer(theirs), closed };
  };
}
