/** The few responses an HTTP proxy front end writes itself. */

const REASONS: Readonly<Record<number, string>> = {
  200: 'OK',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? 'Error';
}

/** The answer to a CONNECT whose tunnel is ready: no headers, no body. */
export function connectEstablished(): Buffer {
  return Buffer.from('HTTP/1.1 200 Connection established\r\n\r\n', 'latin1');
}

/**
 * A short plain-text error that closes the connection: after a refused head
 * the byte stream cannot be trusted to hold another request.
 */
export function errorResponse(
  status: number,
  extraHeaders: readonly (readonly [string, string])[] = [],
): Buffer {
  const reason = reasonPhrase(status);
  const body = `${status} ${reason}\n`;
  const lines = [`HTTP/1.1 ${status} ${reason}`];
  for (const [name, value] of extraHeaders) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new TypeError('CR/LF in a header');
    lines.push(`${name}: ${value}`);
  }
  lines.push(
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    '',
    body,
  );
  return Buffer.from(lines.join('\r\n'), 'utf8');
}

/** 407 asking for Basic credentials (RFC 7235 / 7617). */
export function proxyAuthRequired(realm: string): Buffer {
  const quoted = realm.replace(/["\\]/g, '\\$&');
  return errorResponse(407, [['Proxy-Authenticate', `Basic realm="${quoted}", charset="UTF-8"`]]);
}
