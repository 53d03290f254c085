import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { quietLogger } from '../../../src/fd/logger.js';
import { EventLoopGroup } from '../../../src/lb/event-loop-group.js';
import type { WorkerSessionInfo } from '../../../src/workers/fleet.js';
import { WorkerEventLoop } from '../../../src/workers/worker-loop.js';
import { hashUntilEnd, writeRandom } from '../../helpers/net.js';

// Worker processes run the built entry (dist/apps/daemon/worker.js): `npm test`
// builds first; run `npm run build` before running these files alone.
export const WORKER_ENTRY = fileURLToPath(
  new URL('../../../dist/apps/daemon/worker.js', import.meta.url),
);

/** Servers that are UP without probing: the tests decide what is reachable. */
export const NO_CHECK = {
  timeoutMs: 500,
  periodMs: 500,
  up: 1,
  down: 1,
  check: { kind: 'none' },
} as const;

export function workerGroup(name: string, loops: number): EventLoopGroup {
  if (!existsSync(WORKER_ENTRY)) throw new Error(`${WORKER_ENTRY} missing: npm run build first`);
  const elg = new EventLoopGroup(name, {
    createLoop: (n) =>
      new WorkerEventLoop(n, {
        entry: WORKER_ENTRY,
        logLevel: 'error',
        logFormat: 'text',
        logger: quietLogger,
      }),
  });
  for (let i = 0; i < loops; i++) elg.add(`${name}-${i}`);
  return elg;
}

/** The worker pids of a group's loops (all up). */
export function pids(elg: EventLoopGroup): number[] {
  return elg.list().map((l) => {
    const pid = (l as WorkerEventLoop).worker.pid;
    if (pid === undefined) throw new Error(`worker ${l.name} is down`);
    return pid;
  });
}

/** The process exists and is not a zombie (an orphan's exit may wait for its new parent to reap it). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Connect and wait until one round trip went through the proxy (the session exists). */
export async function openSession(port: number): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await once(socket, 'connect');
  socket.write('ping');
  const [data] = (await once(socket, 'data')) as [Buffer];
  if (data.toString() !== 'ping') throw new Error(`unexpected echo ${data.toString()}`);
  return socket;
}

/**
 * Send `size` random bytes through `socket` (a session to an echo backend),
 * end it, and compare the echo's sha256; resolves with the bytes moved each way.
 */
export async function echoTransfer(socket: Duplex, size: number): Promise<number> {
  const echoed = hashUntilEnd(socket);
  const sent = await writeRandom(socket, size);
  const got = await echoed;
  if (got.bytes !== size || got.sha256 !== sent) {
    throw new Error(`echo of ${size} bytes came back as ${got.bytes} bytes, sha256 ${got.sha256}`);
  }
  return size;
}

/** A listener on workers (WorkerListener, WorkerSocks5Server): sessions with their pids. */
export interface OnWorkers {
  refresh(): Promise<void>;
  sessions(): WorkerSessionInfo[];
}

/** Which worker pid holds the session of `socket` (after a refresh). */
export async function pidOf(
  lb: OnWorkers,
  socket: { readonly localPort?: number | undefined },
): Promise<number | undefined> {
  await lb.refresh();
  const client = `127.0.0.1:${socket.localPort}`;
  return lb.sessions().find((s) => s.client === client)?.pid;
}

/**
 * Open sessions until each of `wanted` worker pids holds at least one (the
 * kernel picks the worker); returns one socket per pid, closing the extras.
 */
export async function sessionOnEach(
  lb: OnWorkers,
  port: number,
  wanted: readonly number[],
  max = 200,
): Promise<Map<number, Socket>> {
  const found = new Map<number, Socket>();
  const extras: Socket[] = [];
  for (let i = 0; i < max && found.size < wanted.length; i++) {
    const s = await openSession(port);
    const pid = await pidOf(lb, s);
    if (pid !== undefined && wanted.includes(pid) && !found.has(pid)) found.set(pid, s);
    else extras.push(s);
  }
  for (const s of extras) s.destroy();
  if (found.size < wanted.length) {
    throw new Error(`after ${max} connections only workers ${[...found.keys()]} took one`);
  }
  return found;
}
