import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRequestHead } from '../../../src/protocols/http-proxy/request-head.js';
import { errorPage } from '../../../src/websocks/server/nginx-pages.js';
import { pathOf, StaticSite } from '../../../src/websocks/server/static-site.js';
import { fcParams } from '../../helpers/fc.js';

let root = '';
let site: StaticSite;
const ctx = { tls: false, authority: '127.0.0.1:80' };

function req(line: string, headers: string[] = ['Host: ex.org']) {
  return parseRequestHead(Buffer.from(`${line}\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`));
}

async function answer(line: string, headers?: string[]) {
  const a = await site.answer(req(line, headers), ctx);
  return { ...a, headText: a.head.toString('latin1') };
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'site-'));
  writeFileSync(join(root, 'index.html'), 'home');
  writeFileSync(join(root, 'a b.txt'), 'spaced');
  mkdirSync(join(root, 'empty'));
  mkdirSync(join(root, 'blog'));
  writeFileSync(join(root, 'blog', 'index.html'), 'blog');
  site = new StaticSite({ root, now: () => Date.UTC(2026, 0, 2, 3, 4, 5) });
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('StaticSite (an nginx with root and index index.html)', () => {
  it('serves files with nginx headers, in nginx order', async () => {
    const a = await answer('GET / HTTP/1.1');
    expect(a.status).toBe(200);
    expect(a.body?.toString()).toBe('home');
    expect(a.headText).toMatch(
      /^HTTP\/1\.1 200 OK\r\nServer: nginx\r\nDate: Fri, 02 Jan 2026 03:04:05 GMT\r\nContent-Type: text\/html\r\nContent-Length: 4\r\nLast-Modified: .+ GMT\r\nConnection: keep-alive\r\nETag: "[0-9a-f]+-4"\r\nAccept-Ranges: bytes\r\n\r\n$/,
    );
  });

  it('HEAD: the same head, no body', async () => {
    const get = await answer('GET /blog/ HTTP/1.1');
    const head = await answer('HEAD /blog/ HTTP/1.1');
    expect(head.body).toBeNull();
    expect(head.headText).toBe(get.headText);
  });

  it('decodes the path, drops the query, 301s a directory, 403s a directory without index', async () => {
    expect((await answer('GET /a%20b.txt?x=1 HTTP/1.1')).body?.toString()).toBe('spaced');
    const dir = await answer('GET /blog?q HTTP/1.1');
    expect(dir.status).toBe(301);
    expect(dir.headText).toContain('\r\nLocation: http://ex.org/blog/\r\n');
    expect((await answer('GET /empty/ HTTP/1.1')).status).toBe(403);
    expect((await answer('GET /missing HTTP/1.1')).body?.equals(errorPage(404))).toBe(true);
  });

  it('405 for other methods, 400 for escapes above the root, close when asked', async () => {
    expect((await answer('POST / HTTP/1.1')).status).toBe(405);
    expect((await answer('GET /../etc/passwd HTTP/1.1')).status).toBe(400);
    expect((await answer('GET /%2e%2e/x HTTP/1.1')).status).toBe(400);
    expect((await answer('GET / HTTP/1.1', ['Connection: close'])).headText).toContain(
      'Connection: close',
    );
    expect((await answer('GET / HTTP/1.0')).close).toBe(true);
  });

  it('no webroot: the nginx welcome page at /, 404 elsewhere', async () => {
    const bare = new StaticSite();
    const a = await bare.answer(req('GET / HTTP/1.1'), ctx);
    expect(a.body?.toString()).toContain('Welcome to nginx!');
    expect((await bare.answer(req('GET /x HTTP/1.1'), ctx)).status).toBe(404);
  });

  it('pathOf never leaves the root (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('..', '.', 'a', '%2e%2e', '%2f', '', 'b%00', '%zz', '\\'), {
          maxLength: 8,
        }),
        (parts) => {
          const p = pathOf(`/${parts.join('/')}`);
          if (p === null) return;
          expect(p.startsWith('/')).toBe(true);
          expect(p.split('/')).not.toContain('..');
          expect(p).not.toContain('\0');
        },
      ),
      fcParams({ numRuns: 500 }),
    );
  });
});
