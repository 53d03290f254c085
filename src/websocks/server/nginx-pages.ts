/**
 * The answers of an nginx with its defaults (`server_tokens off`): the same
 * status lines, header names in nginx's order, and error pages byte for byte.
 * A WebSocks server hides behind a web site, and the most common web site on
 * the internet is a default nginx; a prober that sees these pages sees one.
 */

const REASONS: Readonly<Record<number, string>> = {
  200: 'OK',
  301: 'Moved Permanently',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Not Allowed',
  408: 'Request Time-out',
  413: 'Request Entity Too Large',
  414: 'Request-URI Too Large',
  500: 'Internal Server Error',
};

export function reasonOf(status: number): string {
  return REASONS[status] ?? 'Unknown';
}

/** nginx's built-in error page for a status (CRLF line ends, as nginx writes them). */
export function errorPage(status: number): Buffer {
  const title = `${status} ${reasonOf(status)}`;
  return Buffer.from(
    `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`,
    'latin1',
  );
}

/** The page a fresh nginx serves at `/` (used when no --webroot is given). */
export const WELCOME_PAGE = Buffer.from(
  `<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
`,
  'latin1',
);

/** nginx's default `mime.types`, the part a small static site uses. */
const MIME: Readonly<Record<string, string>> = {
  html: 'text/html',
  htm: 'text/html',
  shtml: 'text/html',
  css: 'text/css',
  xml: 'text/xml',
  gif: 'image/gif',
  jpeg: 'image/jpeg',
  jpg: 'image/jpeg',
  js: 'application/javascript',
  txt: 'text/plain',
  png: 'image/png',
  svg: 'image/svg+xml',
  svgz: 'image/svg+xml',
  webp: 'image/webp',
  ico: 'image/x-icon',
  json: 'application/json',
  pdf: 'application/pdf',
  woff: 'font/woff',
  woff2: 'font/woff2',
  zip: 'application/zip',
  mp4: 'video/mp4',
  webm: 'video/webm',
  mp3: 'audio/mpeg',
  wasm: 'application/wasm',
};

/** nginx's `default_type application/octet-stream` for anything unknown. */
export function contentTypeOf(path: string): string {
  const slash = path.lastIndexOf('/');
  const dot = path.lastIndexOf('.');
  if (dot <= slash) return 'application/octet-stream';
  return MIME[path.slice(dot + 1).toLowerCase()] ?? 'application/octet-stream';
}

/** RFC 7231 IMF-fixdate, as nginx writes Date and Last-Modified. */
export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

/** nginx's ETag: `"<mtime seconds hex>-<size hex>"`. */
export function etagOf(mtimeMs: number, size: number): string {
  return `"${Math.floor(mtimeMs / 1000).toString(16)}-${size.toString(16)}"`;
}

/** One complete answer: the head, the body (absent for HEAD), and whether to close after it. */
export interface SiteAnswer {
  readonly status: number;
  readonly head: Buffer;
  readonly body: Buffer | null;
  readonly close: boolean;
}

export interface AnswerParts {
  readonly status: number;
  readonly nowMs: number;
  readonly contentType: string;
  readonly body: Buffer;
  /** HEAD: the headers of a GET, no body. */
  readonly headOnly: boolean;
  readonly close: boolean;
  readonly lastModifiedMs?: number;
  readonly location?: string;
}

/** Headers in nginx's order: Server, Date, Content-Type, Content-Length, Last-Modified, Connection, Location / ETag, Accept-Ranges. */
export function buildAnswer(parts: AnswerParts): SiteAnswer {
  const lines = [
    `HTTP/1.1 ${parts.status} ${reasonOf(parts.status)}`,
    'Server: nginx',
    `Date: ${httpDate(parts.nowMs)}`,
    `Content-Type: ${parts.contentType}`,
    `Content-Length: ${parts.body.length}`,
  ];
  if (parts.lastModifiedMs !== undefined) {
    lines.push(`Last-Modified: ${httpDate(parts.lastModifiedMs)}`);
  }
  lines.push(`Connection: ${parts.close ? 'close' : 'keep-alive'}`);
  if (parts.location !== undefined) lines.push(`Location: ${parts.location}`);
  if (parts.lastModifiedMs !== undefined) {
    lines.push(`ETag: ${etagOf(parts.lastModifiedMs, parts.body.length)}`, 'Accept-Ranges: bytes');
  }
  lines.push('', '');
  return {
    status: parts.status,
    head: Buffer.from(lines.join('\r\n'), 'latin1'),
    body: parts.headOnly ? null : parts.body,
    close: parts.close,
  };
}

/** An nginx error answer (its built-in page). */
export function errorAnswer(
  status: number,
  nowMs: number,
  options: { headOnly?: boolean; close?: boolean; location?: string } = {},
): SiteAnswer {
  return buildAnswer({
    status,
    nowMs,
    contentType: 'text/html',
    body: errorPage(status),
    headOnly: options.headOnly ?? false,
    close: options.close ?? false,
    ...(options.location === undefined ? {} : { location: options.location }),
  });
}
