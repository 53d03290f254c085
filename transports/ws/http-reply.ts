import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/** An HTTP answer that refuses an upgrade request (written on the raw socket, then closed). */
export interface HttpRefusal {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** Answers requests that are not WebSocket upgrades: a status page, static files, a redirect… */
export type HttpHandler = (request: IncomingMessage, response: ServerResponse) => void;

const UNSAFE = /[\r\n]/g;

/** Write a complete `Connection: close` response on a socket that node:http no longer owns. */
export function writeRefusal(socket: Duplex, refusal: HttpRefusal): void {
  if (socket.destroyed) return;
  const status = Number.isInteger(refusal.status) ? refusal.status : 500;
  const reason = STATUS_CODES[status] ?? 'Unknown';
  const body = refusal.body ?? `${status} ${reason}\n`;
  const headers: Record<string, string> = {
    'Content-Type': 'text/plain; charset=utf-8',
    ...refusal.headers,
    Connection: 'close',
    'Content-Length': String(Buffer.byteLength(body)),
  };
  let head = `HTTP/1.1 ${status} ${reason}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    // No CR/LF from a hook may split the response.
    head += `${name.replace(UNSAFE, '')}: ${String(value).replace(UNSAFE, ' ')}\r\n`;
  }
  socket.once('finish', () => socket.destroy());
  socket.end(`${head}\r\n${body}`);
}

/**
 * The default answer to a plain HTTP request: 426 Upgrade Required, saying which
 * upgrade we want, then close (a listener is not a web server unless told so).
 */
export const upgradeRequired: HttpHandler = (_request, response) => {
  const body = 'This address speaks WebSocket only.\n';
  response.writeHead(426, {
    Upgrade: 'websocket',
    'Sec-WebSocket-Version': '13',
    Connection: 'close',
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  response.end(body);
};
