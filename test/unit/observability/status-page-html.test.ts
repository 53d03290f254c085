import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { StatusModel } from '../../../src/control/observability/status-model.js';
import { STATUS_PAGE_SCRIPT } from '../../../src/control/observability/status-page.client.js';
import {
  jsonForScript,
  renderStatusPage,
  statusPageCsp,
} from '../../../src/control/observability/status-page.html.js';

// The page shell: user-controlled text only ever travels inside the escaped
// JSON blob, and the inline script is valid and cannot be cut short.

const HOSTILE = [
  '</script><script>alert(1)</script>',
  '<img/src=x/onerror=alert(1)>',
  '"><svg/onload=alert(1)>',
  "'-alert(1)-'",
  '&lt;b&gt;',
  '\u2028\u2029',
  '<!--',
];

function model(name: string): StatusModel {
  return {
    version: '1',
    now: 0,
    uptimeSeconds: 1,
    summary: {
      listeners: 1,
      activeSessions: 0,
      accepted: 0,
      bytesIn: 0,
      bytesOut: 0,
      serversUp: 0,
      serversTotal: 0,
    },
    listeners: [
      {
        type: 'tcp-lb',
        name,
        address: name,
        bound: '127.0.0.1:1',
        upstream: name,
        securityGroup: name,
        activeSessions: 0,
        accepted: 0,
        bytesIn: 0,
        bytesOut: 0,
        refused: 0,
        noBackend: 0,
        connectFailures: 0,
        idleTimeouts: 0,
        errors: 0,
      },
    ],
    upstreams: [],
    serverGroups: [],
    mesh: null,
    sessions: { total: 0, recent: [] },
    throughput: {
      intervalMs: 1000,
      windowMs: 300_000,
      times: [],
      total: { in: [], out: [] },
      listeners: [],
    },
  };
}

/** The text of the `<script type="application/json">` element. */
function embedded(html: string): string {
  const m = /<script type="application\/json" id="initial-model">([\s\S]*?)<\/script>/.exec(html);
  if (!m?.[1]) throw new Error('no embedded model');
  return m[1];
}

describe('status page shell', () => {
  it('jsonForScript round-trips any JSON and never emits < > & or line separators', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string({ unit: 'binary' }), (value, text) => {
        for (const v of [value, text, { [text]: value }]) {
          const out = jsonForScript(v);
          expect(out).not.toMatch(/[<>&\u2028\u2029]/);
          expect(JSON.parse(out)).toEqual(JSON.parse(JSON.stringify(v)));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('puts hostile names only inside the escaped JSON, and gets them back exactly', () => {
    for (const name of HOSTILE) {
      const html = renderStatusPage(model(name), 'n0nce');
      const json = embedded(html);
      expect(JSON.parse(json).listeners[0].name).toBe(name);
      const outside = html.replace(json, '');
      expect(outside).not.toContain('alert(1)');
      // Exactly the two script elements of the shell: nothing opened or closed another.
      expect(html.match(/<script/g)).toHaveLength(2);
      expect(html.match(/<\/script>/g)).toHaveLength(2);
    }
  });

  it('the inline script compiles and cannot end its element early', () => {
    expect(() => new Function(STATUS_PAGE_SCRIPT)).not.toThrow();
    expect(STATUS_PAGE_SCRIPT).not.toMatch(/<\/script|<!--/i);
    // It renders with DOM text only: no HTML parsing sinks.
    expect(STATUS_PAGE_SCRIPT).not.toMatch(
      /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/,
    );
  });

  it('style and script carry the nonce the CSP allows, and nothing else may load', () => {
    const html = renderStatusPage(model('x'), 'abc123');
    expect(html).toContain('<style nonce="abc123">');
    expect(html).toContain('<script nonce="abc123">');
    const csp = statusPageCsp('abc123');
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'nonce-abc123'");
    expect(csp).toContain("connect-src 'self'");
    // No external asset anywhere: no network but the controller's own.
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//i);
  });
});
