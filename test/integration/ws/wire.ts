import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';

// Hand-made bytes for misbehaving peers: what our own code must never send.

/** Sec-WebSocket-Accept for a key (RFC 6455 §4.2.2). */
export function acceptFor(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}

/** A valid upgrade request head, with extra header lines. */
export function upgradeRequest(path = '/', extra: string[] = []): string {
  return [
    `GET ${path} HTTP/1.1`,
    'Host: 127.0.0.1',
    'Upgrade: websocket',
    'Connection: Upgrade',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version: 13',
    ...extra,
    '',
    '',
  ].join('\r\n');
}

/** A single binary frame with a short payload (< 126 bytes), masked or not. */
export function binaryFrame(payload: Buffer, mask: Buffer | null): Buffer {
  if (payload.length > 125) throw new Error('short frames only');
  if (mask === null) return Buffer.concat([Buffer.from([0x82, payload.length]), payload]);
  const masked = Buffer.from(payload.map((b, i) => b ^ (mask[i & 3] as number)));
  return Buffer.concat([Buffer.from([0x82, 0x80 | payload.length]), mask, masked]);
}

/** The status code of a close frame at the start of `bytes` (masked or not); -1 if none. */
export function closeCode(bytes: Buffer): number {
  if (bytes.length < 4 || bytes[0] !== 0x88) return -1;
  const masked = ((bytes[1] as number) & 0x80) !== 0;
  if (!masked) return bytes.readUInt16BE(2);
  if (bytes.length < 8) return -1;
  const m = bytes.subarray(2, 6);
  return (
    (((bytes[6] as number) ^ (m[0] as number)) << 8) | ((bytes[7] as number) ^ (m[1] as number))
  );
}

/**
 * Connect, write `request`, and collect everything the server sends until it
 * closes (or `ms` passes: then `closed` is false). `more` runs once the reply
 * contains `after` (e.g. the end of a 101 head), to send the next bytes.
 * `complete`, when given, ends the exchange as soon as the reply satisfies it
 * (`closed` false: the server had not closed), `ms` then being only a deadline:
 * a reply awaited that way cannot be cut short by a stalled event loop.
 */
export async function exchange(
  port: number,
  request: string | Buffer,
  ms = 3000,
  more?: { after: string; send: (socket: Socket) => void },
  complete?: (reply: Buffer) => boolean,
): Promise<{ reply: Buffer; closed: boolean }> {
  const socket = connect({ host: '127.0.0.1', port });
  const chunks: Buffer[] = [];
  let sentMore = false;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ reply: Buffer.concat(chunks), closed: false });
    }, ms);
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      if (more && !sentMore && Buffer.concat(chunks).includes(more.after)) {
        sentMore = true;
        more.send(socket);
      }
      if (complete?.(Buffer.concat(chunks))) {
        clearTimeout(timer);
        resolve({ reply: Buffer.concat(chunks), closed: false });
        socket.destroy();
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ reply: Buffer.concat(chunks), closed: true });
    });
    socket.write(request);
  });
}

/** The bytes after the HTTP head of `reply`. */
export function afterHead(reply: Buffer): Buffer {
  const end = reply.indexOf('\r\n\r\n');
  return end < 0 ? Buffer.alloc(0) : reply.subarray(end + 4);
}
