// The status page's script, inlined. It renders the StatusModel (embedded at
// first paint, then polled from /api/v1/status every second) with DOM calls
// only: every name and address goes in through textContent, never as markup,
// so nothing a resource is called can become HTML or script.
// Plain ES2020 in a string (the build has no DOM types). Keep it free of
// backticks, `${` and backslashes: the outer template literal would eat them.

export const STATUS_PAGE_SCRIPT = `
'use strict';
(function () {
  var POLL_MS = 1000;
  var RETRY_MS = 3000;
  var COLORS = { in: '#1f6feb', out: '#e16f24', grid: '#eaeef2', axis: '#656d76' };

  function $(id) { return document.getElementById(id); }

  /** Build an element; strings become text nodes (never parsed as HTML). */
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) for (var k in attrs) if (attrs[k] !== undefined && attrs[k] !== null) el.setAttribute(k, String(attrs[k]));
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }
  function append(el, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(el, c); }); return; }
    el.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }

  var UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  function bytes(n) {
    var i = 0;
    while (n >= 1024 && i < UNITS.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(Math.round(n)) : n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)) + ' ' + UNITS[i];
  }
  function rate(n) { return bytes(n) + '/s'; }
  function count(n) { return Number(n).toLocaleString('en-US'); }
  function age(ms) {
    var s = Math.floor(ms / 1000);
    if (s < 60) return s + 's';
    var m = Math.floor(s / 60);
    if (m < 60) return m + 'm ' + String(s % 60).padStart(2, '0') + 's';
    var hr = Math.floor(m / 60);
    if (hr < 48) return hr + 'h ' + String(m % 60).padStart(2, '0') + 'm';
    return Math.floor(hr / 24) + 'd ' + (hr % 24) + 'h';
  }
  function latency(ms) { return ms === null ? '–' : ms < 10 ? ms.toFixed(2) + ' ms' : Math.round(ms) + ' ms'; }
  function last(arr) { return arr.length ? arr[arr.length - 1] : 0; }

  /** A socks5-server's UDP associations: live / capacity (per worker when it runs on several), refused. */
  function udpLine(u) {
    var cap = count(u.capacity) + (u.capacity === u.max ? '' : ' (' + count(u.max) + ' per worker)');
    return h('div', { class: 'sub', 'data-udp-live': u.live, 'data-udp-refused': u.refused },
      'UDP associations ' + count(u.live) + ' / ' + cap + ' · ' + count(u.refused) + ' refused' +
      (u.allowed ? '' : ' · UDP off'));
  }

  function badge(state) {
    return h('span', { class: 'badge ' + (state === 'UP' ? 'up' : 'down'), 'data-state': state }, state);
  }
  function table(headers, rows, empty) {
    if (!rows.length) return h('div', { class: 'empty' }, empty);
    return h('div', { class: 'scroll' }, h('table', null,
      h('thead', null, h('tr', null, headers.map(function (c) {
        return h('th', { class: c.charAt(0) === '#' ? 'num' : null }, c.charAt(0) === '#' ? c.slice(1) : c);
      }))),
      h('tbody', null, rows)));
  }
  function td(content, cls, title) { return h('td', { class: cls || null, title: title || null }, content); }
  function num(content) { return td(content, 'num'); }

  function card(label, value, sub, cls) {
    return h('div', { class: 'card' },
      h('div', { class: 'label' }, label),
      h('div', { class: 'value' + (cls ? ' ' + cls : '') }, value),
      h('div', { class: 'sub' }, sub));
  }

  function renderSummary(m) {
    var s = m.summary;
    var t = m.throughput;
    var allUp = s.serversUp === s.serversTotal;
    $('cards').replaceChildren(
      card('Listeners', count(s.listeners), count(s.accepted) + ' connections accepted'),
      card('Sessions', count(s.activeSessions), 'open now'),
      card('Servers up', s.serversUp + ' / ' + s.serversTotal,
        allUp ? 'all healthy' : (s.serversTotal - s.serversUp) + ' down', s.serversTotal === 0 ? null : allUp ? 'good' : 'bad'),
      card('Throughput in', rate(last(t.total.in)), bytes(s.bytesIn) + ' from clients'),
      card('Throughput out', rate(last(t.total.out)), bytes(s.bytesOut) + ' to clients'));
  }

  function renderListeners(m) {
    var rates = {};
    m.throughput.listeners.forEach(function (l) { rates[l.type + '/' + l.name] = l; });
    var rows = m.listeners.map(function (l) {
      var spark = h('canvas', { class: 'spark', width: 120, height: 26 });
      var id = l.type + '/' + l.name;
      var r = rates[id] || { in: [], out: [] };
      queueSpark(spark, r);
      return h('tr', { 'data-listener': id },
        td([h('span', { class: 'name' }, l.name), h('span', { class: 'tag' }, l.type),
          h('div', { class: 'sub' }, 'security group ' + l.securityGroup),
          l.udp ? udpLine(l.udp) : null]),
        td(l.bound, 'mono', l.address), td(l.upstream),
        num(count(l.activeSessions)), num(count(l.accepted)),
        num(bytes(l.bytesIn) + ' / ' + bytes(l.bytesOut)),
        num(rate(last(r.in)) + ' / ' + rate(last(r.out))), td(spark),
        num(count(l.refused)), num(count(l.noBackend)), num(count(l.connectFailures)),
        num(count(l.idleTimeouts)));
    });
    $('listeners').replaceChildren(table(
      ['Listener', 'Bound', 'Upstream', '#Sessions', '#Accepted', '#Total in / out', '#Now in / out', 'Last minute', '#Refused', '#No backend', '#Conn. fail', '#Idle t/o'],
      rows, 'No listener yet: add one with "add tcp-lb NAME address HOST:PORT upstream UPS".'));
  }

  function renderUpstreams(m) {
    var rows = m.upstreams.map(function (u) {
      var groups = u.groups.map(function (g) {
        return h('div', null,
          h('span', { class: 'name' }, g.name), ' ',
          h('span', { class: 'muted' }, 'weight ' + g.weight + ' · ' + g.serversUp + '/' + g.serversTotal + ' up'),
          g.isDefault ? h('span', { class: 'tag' }, 'default') : null,
          g.hosts.length ? h('span', { class: 'tag mono' }, g.hosts.join(', ')) : null);
      });
      return h('tr', { 'data-upstream': u.name },
        td(u.name, 'name'), td(badge(u.available ? 'UP' : 'DOWN')),
        td(groups.length ? groups : h('span', { class: 'muted' }, 'no server groups')));
    });
    $('upstreams').replaceChildren(table(['Upstream', 'State', 'Server groups'], rows, 'No upstream yet.'));
  }

  function renderGroups(m) {
    if (!m.serverGroups.length) {
      $('groups').replaceChildren(h('div', { class: 'empty' }, 'No server group yet.'));
      return;
    }
    $('groups').replaceChildren.apply($('groups'), m.serverGroups.map(function (g) {
      var total = g.servers.length;
      var rows = g.servers.map(function (s) {
        var drained = s.state === 'UP' && s.weight === 0;
        return h('tr', { 'data-server': g.name + '/' + s.name, class: s.state === 'DOWN' ? 'is-down' : null },
          td([s.name, s.source === null ? null : h('span', { class: 'tag', title: 'added by smart-group-delegate ' + s.source }, 'registry')], 'name'),
          td(s.address, 'mono'),
          td([badge(s.state), drained ? h('span', { class: 'tag' }, 'drain') : null]),
          num(s.weight), num(count(s.activeConnections)), num(count(s.totalConnections)),
          num(bytes(s.bytesIn)), num(bytes(s.bytesOut)), num(count(s.connectFailures)),
          td(latency(s.lastLatencyMs), s.state === 'UP' ? 'num' : 'num muted', 'last successful probe'),
          td(latency(s.avgLatencyMs), s.state === 'UP' ? 'num' : 'num muted', 'mean of the last 8 successful probes'),
          num(count(s.checks) + ' / ' + count(s.checkFailures)),
          td(s.lastError === null ? '' : s.lastError, 'err', s.lastError));
      });
      var state = g.serversUp === total && total > 0 ? 'up' : g.serversUp === 0 ? 'down' : 'warn';
      return h('div', { class: 'group', 'data-group': g.name },
        h('h3', null, g.name,
          h('span', { class: 'badge ' + state }, g.serversUp + '/' + total + ' UP'),
          h('span', { class: 'detail' }, g.method + ' · check ' + g.check + ' every ' + g.periodMs +
            ' ms, timeout ' + g.timeoutMs + ' ms, up ' + g.up + ' / down ' + g.down + ' · ' + g.eventLoopGroup)),
        table(['Server', 'Address', 'State', '#Weight', '#Active', '#Total', '#Bytes in', '#Bytes out',
          '#Conn. fail', '#Check last', '#Check mean', '#Checks / failed', 'Last error'], rows, 'No servers.'));
    }));
  }

  function renderMesh(m) {
    var x = m.mesh;
    if (!x) {
      $('mesh').replaceChildren(h('div', { class: 'empty' }, 'No delegate yet.'));
      return;
    }
    var r = x.registry;
    var ok = r.connection === 'connected';
    var head = h('p', { 'data-registry': r.connection },
      h('span', { class: 'badge ' + (ok ? 'up' : r.connection === 'connecting' ? 'warn' : 'down') }, r.connection),
      ' ' + r.backend + ' ' + r.endpoints.join(', ') + ' · lease TTL ' + (r.leaseTtlMs / 1000) + ' s · ' +
      r.registrations + ' registered · ' + r.watches + ' watches · ' + r.connectionChanges + ' connection changes');
    var nodes = x.nodeDelegates.map(function (d) {
      return h('tr', { 'data-node-delegate': d.name },
        td(d.name, 'name'), td(d.service + ' / ' + d.zone), td(d.address + ':' + d.port, 'mono'),
        td(h('span', { class: 'badge ' + (d.state === 'connected' ? 'up' : 'down') }, d.state)),
        td(d.local), num(d.weight), num(d.revision), td(d.lastError || '', 'err', d.lastError));
    });
    var groups = x.groupDelegates.map(function (d) {
      return h('tr', { 'data-group-delegate': d.name },
        td(d.name, 'name'), td(d.service + ' / ' + d.zone), td(d.group),
        td(h('span', { class: 'badge ' + (d.state === 'connected' ? 'up' : d.state === 'frozen' ? 'warn' : 'down') }, d.state)),
        num(d.servers), num(d.revision), num(count(d.changes)), num(d.relists), num(d.conflicts),
        td(d.lastError || '', 'err', d.lastError));
    });
    $('mesh').replaceChildren(head,
      table(['Node delegate', 'Service / zone', 'Publishes', 'State', 'Local check', '#Weight', '#Revision', 'Last error'], nodes, 'No smart-node-delegate.'),
      table(['Group delegate', 'Service / zone', 'Server group', 'State', '#Servers', '#Revision', '#Changes', '#Re-lists', '#Conflicts', 'Last error'], groups, 'No smart-group-delegate.'));
  }

  function renderSessions(m) {
    var s = m.sessions;
    $('sessions-hint').textContent = s.total === 0 ? 'none open'
      : s.total > s.recent.length ? count(s.total) + ' open · newest ' + s.recent.length + ' shown' : count(s.total) + ' open';
    $('sessions').replaceChildren(table(
      ['Listener', 'Worker', 'Client', 'Target', 'State', '#From client', '#To client', '#Age'],
      s.recent.map(function (x) {
        return h('tr', null, td(x.listener), td(x.pid === undefined ? 'main' : 'pid ' + x.pid, 'muted'),
          td(x.client, 'mono'), td(x.target, 'mono'), td(x.state, 'muted'),
          num(bytes(x.bytesFromClient)), num(bytes(x.bytesToClient)), num(age(x.ageMs)));
      }), 'No open sessions.'));
  }

  /**
   * The y scale: 4 grid steps of 1, 2, 2.5 or 5 × 10^n in the binary unit of
   * the maximum, so the labels read 0.5 MiB/s, 1 MiB/s… rather than 488 KiB/s.
   */
  function yScale(max) {
    var u = max > 0 ? Math.min(UNITS.length - 1, Math.max(0, Math.floor(Math.log(max) / Math.log(1024)))) : 1;
    var div = Math.pow(1024, u);
    var raw = Math.max(max / div, 1e-9) / 4;
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 2.5, 5, 10].map(function (k) { return k * p; }).filter(function (v) { return v >= raw; })[0];
    if (max <= 0) step = 0.25;
    return {
      max: step * 4 * div,
      label: function (v) {
        if (v === 0) return '0';
        var x = v / div;
        return (Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(3)))) + ' ' + UNITS[u] + '/s';
      },
    };
  }

  /** The x span: the data so far rounded up to a whole minute, at most the window. */
  function xSpan(t) {
    var have = t.times.length ? t.times[t.times.length - 1] - t.times[0] : 0;
    return Math.min(t.windowMs, Math.max(60000, Math.ceil(have / 60000) * 60000));
  }

  function sized(canvas) {
    var dpr = window.devicePixelRatio || 1;
    var w = canvas.clientWidth || Number(canvas.getAttribute('width'));
    var hgt = canvas.clientHeight || Number(canvas.getAttribute('height'));
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(hgt * dpr);
    var ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return { ctx: ctx, w: w, h: hgt };
  }

  /** Lines through (time, value); a gap longer than 2.5 intervals breaks the line. */
  function line(ctx, times, values, x, y, gapMs, color, fill, baseY) {
    ctx.beginPath();
    var started = false;
    for (var i = 0; i < values.length; i++) {
      var px = x(times[i]);
      var py = y(values[i]);
      if (!started || times[i] - times[i - 1] > gapMs) ctx.moveTo(px, py); else ctx.lineTo(px, py);
      started = true;
    }
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.6;
    ctx.stroke();
    if (fill && values.length > 1) {
      ctx.lineTo(x(times[times.length - 1]), baseY);
      ctx.lineTo(x(times[0]), baseY);
      ctx.closePath();
      ctx.fillStyle = fill;
      ctx.fill();
    }
  }

  function drawChart(m) {
    var t = m.throughput;
    var c = sized($('chart'));
    var ctx = c.ctx;
    var pad = { left: 78, right: 14, top: 10, bottom: 24 };
    var plotW = c.w - pad.left - pad.right;
    var plotH = c.h - pad.top - pad.bottom;
    ctx.clearRect(0, 0, c.w, c.h);
    var scale = yScale(Math.max.apply(null, [0].concat(t.total.in, t.total.out)));
    var max = scale.max;
    var span = xSpan(t);
    var end = m.now;
    var start = end - span;
    var x = function (time) { return pad.left + ((time - start) / span) * plotW; };
    var y = function (v) { return pad.top + plotH - (v / max) * plotH; };
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillStyle = COLORS.axis;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (var g = 0; g <= 4; g++) {
      var v = (max / 4) * g;
      var gy = Math.round(y(v)) + 0.5;
      ctx.strokeStyle = COLORS.grid;
      ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(pad.left, gy); ctx.lineTo(pad.left + plotW, gy); ctx.stroke();
      ctx.fillText(scale.label(v), pad.left - 8, gy);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    var tick = span <= 60000 ? 10000 : span <= 180000 ? 30000 : 60000;
    for (var ago = span; ago >= 0; ago -= tick) {
      var tx = Math.round(x(end - ago)) + 0.5;
      ctx.strokeStyle = COLORS.grid;
      ctx.beginPath(); ctx.moveTo(tx, pad.top); ctx.lineTo(tx, pad.top + plotH); ctx.stroke();
      ctx.fillText(ago === 0 ? 'now' : '−' + (ago % 60000 ? ago / 1000 + ' s' : ago / 60000 + ' min'), tx, pad.top + plotH + 6);
    }
    $('chart-span').textContent = 'last ' + (span / 60000) + ' min (keeps ' + Math.round(t.windowMs / 60000) + ')';
    if (t.times.length < 2) {
      ctx.fillStyle = COLORS.axis;
      ctx.textBaseline = 'middle';
      ctx.fillText('collecting samples…', pad.left + plotW / 2, pad.top + plotH / 2);
      return;
    }
    var gap = t.intervalMs * 2.5;
    var base = pad.top + plotH;
    ctx.save();
    ctx.beginPath(); ctx.rect(pad.left, pad.top - 2, plotW, plotH + 4); ctx.clip();
    line(ctx, t.times, t.total.in, x, y, gap, COLORS.in, 'rgba(31,111,235,0.10)', base);
    line(ctx, t.times, t.total.out, x, y, gap, COLORS.out, null, base);
    ctx.restore();
    $('legend-in').textContent = 'in ' + rate(last(t.total.in));
    $('legend-out').textContent = 'out ' + rate(last(t.total.out));
  }

  var sparks = [];
  function queueSpark(canvas, series) { sparks.push([canvas, series]); }
  function drawSparks() {
    sparks.forEach(function (pair) {
      var c = sized(pair[0]);
      var s = pair[1];
      var n = Math.max(s.in.length, 2);
      var max = Math.max.apply(null, [1].concat(s.in, s.out));
      var x = function (i) { return (i / (n - 1)) * (c.w - 2) + 1; };
      var y = function (v) { return c.h - 2 - (v / max) * (c.h - 4); };
      [[s.in, COLORS.in], [s.out, COLORS.out]].forEach(function (p) {
        c.ctx.beginPath();
        p[0].forEach(function (v, i) { if (i === 0) c.ctx.moveTo(x(i), y(v)); else c.ctx.lineTo(x(i), y(v)); });
        c.ctx.strokeStyle = p[1];
        c.ctx.lineWidth = 1.2;
        c.ctx.stroke();
      });
    });
    sparks = [];
  }

  var lastModel = null;
  function render(m) {
    lastModel = m;
    $('version').textContent = 'vproxy-ts ' + m.version + ' · up ' + age(m.uptimeSeconds * 1000);
    $('updated').textContent = 'live · ' + new Date(m.now).toLocaleTimeString('en-GB');
    $('live').className = 'live ok';
    $('banner').className = 'banner';
    renderSummary(m);
    renderListeners(m);
    renderUpstreams(m);
    renderGroups(m);
    renderMesh(m);
    renderSessions(m);
    drawChart(m);
    drawSparks();
  }

  function lost(message) {
    $('live').className = 'live lost';
    $('updated').textContent = 'disconnected';
    $('banner').textContent = message;
    $('banner').className = 'banner show';
  }

  function poll() {
    if (document.hidden) { setTimeout(poll, POLL_MS); return; }
    fetch('/api/v1/status', { cache: 'no-store', credentials: 'same-origin' })
      .then(function (res) {
        if (res.status === 401) throw new Error('Not authorized any more: open /?token=… again.');
        if (!res.ok) throw new Error('The controller answered ' + res.status + '.');
        return res.json();
      })
      .then(function (m) { render(m); setTimeout(poll, POLL_MS); })
      .catch(function (err) {
        lost('Lost contact with the vproxy controller (' + err.message + '); retrying…');
        setTimeout(poll, RETRY_MS);
      });
  }

  window.addEventListener('resize', function () { if (lastModel) drawChart(lastModel); });
  render(JSON.parse($('initial-model').textContent));
  setTimeout(poll, POLL_MS);
})();
`;
