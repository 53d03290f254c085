import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { buildUpgradeRequest } from '../../../src/protocols/websocks/client-request.js';
import { tunnelOpening } from '../../../src/protocols/websocks/socks-stage.js';

/** A test client built from the codecs only: upgrade request, 10-byte frame, SOCKS5 CONNECT. */
export interface TunnelCredentials {
  readonly user: string;
  readonly password: string;
  readonly path?: string;
  readonly nowMs?: number;
}

/** Read until `n` bytes (or the end); resolves with what came, surplus kept by unshift. */
export async function readBytes(stream: Duplex, n: number, ms = 5000): Promise<Buffer> {
  const parts: Buffer[] = [];
  let have = 0;
  const deadline = Date.now() + ms;
  while (have < n) {
    const chunk = stream.read() as Buffer | null;
    if (chunk !== null) {
      parts.push(chunk);
      have += chunk.length;
      continue;
    }
    if (stream.readableEnded || stream.destroyed) break;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out waiting for ${n} bytes (have ${have})`);
    await Promise.race([
      once(stream, 'readable'),
      once(stream, 'close'),
      new Promise((r) => setTimeout(r, left)),
    ]);
  }
  const all = Buffer.concat(parts);
  if (all.length > n) stream.unshift(all.subarray(n));
  return all.subarray(0, n);
}

/** One HTTP response: its head text and body (by Content-Length); surplus unshifted. */
export async function readResponse(
  stream: Duplex,
  ms = 5000,
): Promise<{ head: string; statusLine: string; headerNames: string[]; body: Buffer; raw: Buffer }> {
  let buf = Buffer.alloc(0);
  const deadline = Date.now() + ms;
  for (;;) {
    if (buf.indexOf('\r\n\r\n') >= 0) break;
    const chunk = stream.read() as Buffer | null;
    if (chunk !== null) {
      buf = Buffer.concat([buf, chunk]);
      continue;
    }
    if (stream.readableEnded || stream.destroyed)
      throw new Error(`closed before a response head: ${buf.toString('latin1')}`);
    const left = deadline - Date.now();
    if (left <= 0) throw new Error('timed out waiting for a response head');
    await Promise.race([
      once(stream, 'readable'),
      once(stream, 'close'),
      new Promise((r) => setTimeout(r, left)),
    ]);
  }
  const end = buf.indexOf('\r\n\r\n');
  const head = buf.subarray(0, end).toString('latin1');
  stream.unshift(buf.subarray(end + 4));
  const lines = head.split('\r\n');
  const headerNames = lines.slice(1).map((l) => l.slice(0, l.indexOf(':')));
  const length = /\r\ncontent-length: *([0-9]+)/i.exec(head);
  const body =
    length && !head.startsWith('HEAD')
      ? await readBytes(stream, Number(length[1]), ms)
      : Buffer.alloc(0);
  return {
    head,
    statusLine: lines[0] as string,
    headerNames,
    body,
    raw: Buffer.concat([buf.subarray(0, end + 4), body]),
  };
}

/**
 * Upgrade, then (strict off) frame + greeting + CONNECT in one write; check
 * the server's 10 bytes, `05 00` and the CONNECT reply. Returns the reply code.
 */
export async function openTunnel(
  stream: Duplex,
  creds: TunnelCredentials,
  host: string,
  target: { host: string; port: number },
): Promise<number> {
  stream.write(
    buildUpgradeRequest({
      host,
      port: 443,
      tls: false,
      user: creds.user,
      password: creds.password,
      nowMs: creds.nowMs ?? Date.now(),
      ...(creds.path === undefined ? {} : { path: creds.path }),
    }),
  );
  const response = await readResponse(stream);
  if (!response.statusLine.startsWith('HTTP/1.1 101 ')) {
    throw new Error(`no upgrade: ${response.statusLine}`);
  }
  stream.write(tunnelOpening(target.host, target.port));
  const frame = await readBytes(stream, 10);
  if (frame.toString('hex') !== '827f7fffffffffffffff')
    throw new Error(`bad frame ${frame.toString('hex')}`);
  const method = await readBytes(stream, 2);
  if (method.toString('hex') !== '0500')
    throw new Error(`bad method reply ${method.toString('hex')}`);
  const reply = await readBytes(stream, 4);
  const atyp = reply[3];
  const rest = atyp === 1 ? 6 : atyp === 4 ? 18 : 0;
  await readBytes(stream, rest);
  return reply[1] as number;
}
