import type { StatusModel } from './status-model.js';
import { STATUS_PAGE_SCRIPT } from './status-page.client.js';
import { STATUS_PAGE_CSS } from './status-page.css.js';

/**
 * JSON that is safe inside a `<script>` element: `<`, `>` and `&` are escaped
 * (a name such as `</script><script>…` cannot close the element), and so are
 * U+2028/U+2029, which old parsers treat as line ends.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => {
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

/**
 * Content-Security-Policy of the page: only our own inline style and script
 * (by nonce) and fetches to this origin. A second line of defence behind the
 * textContent-only rendering.
 */
export function statusPageCsp(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * The status page: a static shell, the model it starts from (so the first
 * paint needs no round trip), and the script that renders and polls. Nothing
 * user-controlled is ever written into the markup itself.
 */
export function renderStatusPage(model: StatusModel, nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vproxy status</title>
<style nonce="${nonce}">${STATUS_PAGE_CSS}</style>
</head>
<body>
<header>
  <h1>vproxy status</h1>
  <span class="meta" id="version"></span>
  <span class="live" id="live"><span class="dot"></span><span id="updated">connecting…</span></span>
</header>
<main>
  <div class="banner" id="banner" role="alert"></div>
  <div class="cards" id="cards"></div>
  <section>
    <h2>Throughput <span class="hint">all listeners, bytes per second, <span id="chart-span"></span></span>
      <span class="legend"><span><span class="swatch in"></span><span id="legend-in">in</span></span><span><span class="swatch out"></span><span id="legend-out">out</span></span></span>
    </h2>
    <div class="chart"><canvas id="chart" role="img" aria-label="throughput chart"></canvas></div>
  </section>
  <section><h2>Listeners <span class="hint">tcp-lb and socks5-server</span></h2><div id="listeners"></div></section>
  <section><h2>Upstreams</h2><div id="upstreams"></div></section>
  <section><h2>Server groups <span class="hint">health as the checks see it</span></h2><div id="groups"></div></section>
  <section><h2>Service registry <span class="hint">smart delegates; frozen = registry unreachable, group kept</span></h2><div id="mesh"></div></section>
  <section><h2>Sessions <span class="hint" id="sessions-hint"></span></h2><div id="sessions"></div></section>
</main>
<footer>Updates every second from <span class="mono">/api/v1/status</span> · Prometheus metrics at <span class="mono">/metrics</span></footer>
<script type="application/json" id="initial-model">${jsonForScript(model)}</script>
<script nonce="${nonce}">${STATUS_PAGE_SCRIPT}</script>
</body>
</html>
`;
}
