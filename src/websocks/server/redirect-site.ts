import { singleHeader } from '../../protocols/http-proxy/head-fields.js';
import type { RequestHead } from '../../protocols/http-proxy/request-head.js';
import type { WebSite } from './front-door.js';
import { errorAnswer, type SiteAnswer } from './nginx-pages.js';
import { wantsClose } from './static-site.js';

/**
 * `--redirect-port`: every request gets nginx's `301 Moved Permanently` to the
 * same host and URI over HTTPS on the main port (left out when it is 443).
 */
export class RedirectSite implements WebSite {
  readonly #httpsPort: number;
  readonly #fallbackHost: string;
  readonly #now: () => number;

  constructor(httpsPort: number, fallbackHost: string, now: () => number = Date.now) {
    this.#httpsPort = httpsPort;
    this.#fallbackHost = fallbackHost;
    this.#now = now;
  }

  badRequest(): SiteAnswer {
    return errorAnswer(400, this.#now(), { close: true });
  }

  async answer(head: RequestHead): Promise<SiteAnswer> {
    const close = wantsClose(head);
    const headOnly = head.method === 'HEAD';
    if (!head.target.startsWith('/')) return errorAnswer(400, this.#now(), { close: true });
    const host = hostOnly(head) ?? this.#fallbackHost;
    const port = this.#httpsPort === 443 ? '' : `:${this.#httpsPort}`;
    const location = `https://${host}${port}${head.target}`;
    return errorAnswer(301, this.#now(), { close, headOnly, location });
  }
}

/** The Host header without its port; null when absent or not a plain name or address. */
function hostOnly(head: RequestHead): string | null {
  let value: string | undefined;
  try {
    value = singleHeader(head.headers, 'host');
  } catch {
    return null;
  }
  if (value === undefined) return null;
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::[0-9]{1,5})?$/.exec(value);
  return m ? (m[1] as string) : null;
}
