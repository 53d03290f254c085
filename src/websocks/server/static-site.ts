import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { headerTokens, singleHeader } from '../../protocols/http-proxy/head-fields.js';
import type { RequestHead } from '../../protocols/http-proxy/request-head.js';
import {
  buildAnswer,
  contentTypeOf,
  errorAnswer,
  type SiteAnswer,
  WELCOME_PAGE,
} from './nginx-pages.js';

export interface StaticSiteOptions {
  /** The directory served; absent: nginx's welcome page at `/`, 404 elsewhere. */
  readonly root?: string;
  /** Clock, injected for tests. */
  readonly now?: () => number;
  /** Files above this size are read per request and not cached (default 1 MiB). */
  readonly maxCachedFileBytes?: number;
  /** Bytes of file contents cached at most (default 32 MiB). */
  readonly maxCacheBytes?: number;
}

/** Where a request came in: decides the scheme of redirects for directories. */
export interface RequestContext {
  readonly tls: boolean;
  /** `host[:port]` of the listener, for a request without a Host header. */
  readonly authority: string;
}

interface CachedFile {
  readonly mtimeMs: number;
  readonly size: number;
  readonly body: Buffer;
}

const MAX_SERVED_BYTES = 64 * 1024 * 1024;

/** Whether the client asked to close after this request (HTTP/1.0 without keep-alive, or `Connection: close`). */
export function wantsClose(head: RequestHead): boolean {
  const tokens = headerTokens(head.headers, 'connection');
  if (tokens.includes('close')) return true;
  return head.version === 'HTTP/1.0' && !tokens.includes('keep-alive');
}

/**
 * The decoy web site: what every request that is not an accepted WebSocks
 * upgrade gets — a browser, a prober, a client with a wrong password or a
 * replayed header alike. It answers as a default nginx with a `root` and
 * `index index.html` would: 200 for files (nginx's content types, ETag,
 * Last-Modified), 301 to the slash-ended URL for a directory, 403 for a
 * directory without index, 404, 405 for methods other than GET and HEAD,
 * 400 for targets that are not a path or climb out of the root. The answer
 * depends only on the request line and headers, never on why it came here.
 */
export class StaticSite {
  readonly #root: string | undefined;
  readonly #now: () => number;
  readonly #maxCachedFile: number;
  readonly #maxCache: number;
  readonly #cache = new Map<string, CachedFile>();
  #cached = 0;

  constructor(options: StaticSiteOptions = {}) {
    this.#root = options.root;
    this.#now = options.now ?? Date.now;
    this.#maxCachedFile = options.maxCachedFileBytes ?? 1024 * 1024;
    this.#maxCache = options.maxCacheBytes ?? 32 * 1024 * 1024;
  }

  /** nginx's answer to bytes that are not an HTTP request: 400, then close. */
  badRequest(): SiteAnswer {
    return errorAnswer(400, this.#now(), { close: true });
  }

  async answer(head: RequestHead, context: RequestContext): Promise<SiteAnswer> {
    const now = this.#now();
    const close = wantsClose(head);
    const headOnly = head.method === 'HEAD';
    const path = pathOf(head.target);
    if (path === null) return errorAnswer(400, now, { close: true, headOnly });
    if (head.method !== 'GET' && head.method !== 'HEAD') {
      return errorAnswer(405, now, { close, headOnly });
    }
    if (this.#root === undefined) {
      if (path === '/' || path === '/index.html') {
        return buildAnswer({
          status: 200,
          nowMs: now,
          contentType: 'text/html',
          body: WELCOME_PAGE,
          headOnly,
          close,
          lastModifiedMs: STARTED_MS,
        });
      }
      return errorAnswer(404, now, { close, headOnly });
    }
    const file = join(this.#root, path);
    const info = await stat(file).catch(() => null);
    if (info === null) return errorAnswer(404, now, { close, headOnly });
    if (info.isDirectory()) {
      if (!path.endsWith('/')) {
        const host = singleHeaderOrNull(head, 'host') ?? context.authority;
        const location = `${context.tls ? 'https' : 'http'}://${host}${path}/`;
        return errorAnswer(301, now, { close, headOnly, location });
      }
      return this.#file(join(file, 'index.html'), now, close, headOnly, 403);
    }
    return this.#file(file, now, close, headOnly, 404);
  }

  async #file(
    file: string,
    now: number,
    close: boolean,
    headOnly: boolean,
    missing: number,
  ): Promise<SiteAnswer> {
    const info = await stat(file).catch(() => null);
    if (info === null || !info.isFile()) return errorAnswer(missing, now, { close, headOnly });
    if (info.size > MAX_SERVED_BYTES) return errorAnswer(403, now, { close, headOnly });
    const body = await this.#read(file, info.mtimeMs, info.size).catch(() => null);
    if (body === null) return errorAnswer(403, now, { close, headOnly });
    return buildAnswer({
      status: 200,
      nowMs: now,
      contentType: contentTypeOf(file),
      body,
      headOnly,
      close,
      lastModifiedMs: info.mtimeMs,
    });
  }

  /** File contents, cached until their modification time or size changes. */
  async #read(file: string, mtimeMs: number, size: number): Promise<Buffer> {
    const hit = this.#cache.get(file);
    if (hit !== undefined && hit.mtimeMs === mtimeMs && hit.size === size) return hit.body;
    const body = await readFile(file);
    if (hit !== undefined) {
      this.#cache.delete(file);
      this.#cached -= hit.body.length;
    }
    if (body.length <= this.#maxCachedFile) {
      // Oldest first out: a Map iterates in insertion order.
      for (const [key, old] of this.#cache) {
        if (this.#cached + body.length <= this.#maxCache) break;
        this.#cache.delete(key);
        this.#cached -= old.body.length;
      }
      this.#cache.set(file, { mtimeMs, size, body });
      this.#cached += body.length;
    }
    return body;
  }
}

// The welcome page's Last-Modified: fixed for the life of the process, as a file's would be.
const STARTED_MS = Math.floor(Date.now() / 1000) * 1000;

function singleHeaderOrNull(head: RequestHead, key: string): string | null {
  try {
    const value = singleHeader(head.headers, key);
    return value !== undefined && /^[A-Za-z0-9.:[\]-]+$/.test(value) ? value : null;
  } catch {
    return null;
  }
}

/**
 * The decoded, normalised path of a request target (origin or absolute form),
 * query dropped; null where nginx says 400: not a path, bad escapes, a NUL,
 * or `..` climbing above the root.
 */
export function pathOf(target: string): string | null {
  let raw = target;
  if (/^https?:\/\//i.test(raw)) {
    const slash = raw.indexOf('/', raw.indexOf('//') + 2);
    raw = slash < 0 ? '/' : raw.slice(slash);
  }
  if (!raw.startsWith('/')) return null;
  const q = raw.search(/[?#]/);
  if (q >= 0) raw = raw.slice(0, q);
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  // Resolve `.` and `..` by hand: posix.normalize clamps `/../x` to `/x`, where nginx says 400.
  const out: string[] = [];
  const parts = decoded.split('/');
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i] as string;
    if (part === '..') {
      if (out.length === 0) return null;
      out.pop();
    } else if (part !== '.' && (part !== '' || i === parts.length - 1)) {
      out.push(part);
    }
  }
  return `/${out.join('/')}`;
}
