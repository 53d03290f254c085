import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { brandStreamFD, type StreamFD } from '../../../src/fd/stream-fd.js';
import { openTarget, TunnelError } from '../../../src/lb/websocks-dialer.js';
import { maxLengthFrame, serverReply } from '../../../src/protocols/websocks/index.js';

// The agent's read of the server's answers with strict mode off (§3.7): the
// 10-byte frame, the method selection and the CONNECT reply are read as one
// message, in whatever pieces they come, and fail as the three separate reads did.

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A connected pair: our end as a StreamFD, the server's end as a socket. */
async function pair(): Promise<{ fd: StreamFD; server: Socket }> {
  const listener: Server = createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  cleanups.push(() => listener.close());
  const accepted = once(listener, 'connection') as Promise<[Socket]>;
  const client = connect((listener.address() as { port: number }).port, '127.0.0.1');
  const [server] = await accepted;
  await once(client, 'connect');
  cleanups.push(() => {
    client.destroy();
    server.destroy();
  });
  server.on('error', () => {});
  return { fd: brandStreamFD(client, 'tcp'), server };
}

const tick = () => new Promise((r) => setImmediate(r));
const answers = (code = 0) =>
  Buffer.concat([maxLengthFrame(), Buffer.from([5, 0]), serverReply(code, 80)]);

async function failure(p: Promise<unknown>): Promise<TunnelError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TunnelError);
  return err as TunnelError;
}

describe('openTarget, strict off: the answers as one read', () => {
  it('takes them split at any byte, and leaves the target bytes after them in the stream', async () => {
    const all = Buffer.concat([answers(), Buffer.from('banner')]);
    for (const cut of [1, 5, 9, 10, 11, 12, 13, 15, 21, 22, 23]) {
      const { fd, server } = await pair();
      const opened = openTarget(fd, '10.0.0.1', 80, { timeoutMs: 5_000 });
      server.write(all.subarray(0, cut));
      await tick();
      server.write(all.subarray(cut));
      await opened;
      const rest = once(fd, 'data') as Promise<[Buffer]>;
      expect((await rest)[0].toString()).toBe('banner');
    }
  });

  it('takes them one byte at a time', async () => {
    const { fd, server } = await pair();
    server.setNoDelay(true);
    const opened = openTarget(fd, 'example.com', 80, { timeoutMs: 5_000 });
    for (const b of answers()) {
      server.write(Buffer.from([b]));
      await tick();
    }
    await opened;
  });

  it('a refused method fails at once (no reply follows it), at the socks step', async () => {
    const { fd, server } = await pair();
    const opened = openTarget(fd, 'example.com', 80, { timeoutMs: 30_000 });
    server.write(Buffer.concat([maxLengthFrame(), Buffer.from([5, 0xff])]));
    const err = await failure(opened);
    expect(err.stage).toBe('socks');
    expect(err.message).toMatch(/method ff/);
  });

  it('a failure reply is the target refused, at the socks step', async () => {
    const { fd, server } = await pair();
    const opened = openTarget(fd, 'example.com', 80, { timeoutMs: 5_000 });
    server.write(answers(5));
    const err = await failure(opened);
    expect(err.stage).toBe('socks');
    expect(err.code).toBe('ERR_SOCKS5_REQUEST_FAILED');
  });

  it('a close inside the frame fails the frame step; one after it, the socks step', async () => {
    for (const [cut, stage] of [
      [6, 'frame'],
      [11, 'socks'],
      [15, 'socks'],
    ] as const) {
      const { fd, server } = await pair();
      const opened = openTarget(fd, 'example.com', 80, { timeoutMs: 5_000 });
      server.end(answers().subarray(0, cut));
      const err = await failure(opened);
      expect(err.stage).toBe(stage);
    }
  });

  it('a silent server fails the frame step when the time is up (the pooled tunnel ping)', async () => {
    const { fd } = await pair();
    const err = await failure(openTarget(fd, 'example.com', 80, { timeoutMs: 50 }));
    expect(err.stage).toBe('frame');
    expect(err.code).toBe('ERR_HANDSHAKE_TIMEOUT');
  });

  it('an abort from the caller ends the wait with its reason', async () => {
    const { fd } = await pair();
    const abort = new AbortController();
    const opened = openTarget(fd, 'example.com', 80, { timeoutMs: 30_000, signal: abort.signal });
    abort.abort(new Error('client left'));
    const err = await failure(opened);
    expect(err.message).toMatch(/client left/);
  });
});
