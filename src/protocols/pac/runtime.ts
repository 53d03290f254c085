/**
 * The matcher that runs inside the browser: the same algorithm as
 * rules/host-index.ts and rules/router.ts, written in ES3-level JavaScript
 * (var, function, no Map, no arrow functions, no String#endsWith), because PAC
 * files also run in old engines (WinHTTP's JScript, pacparser, proxy.pac
 * evaluators in printers and phones).
 *
 * It never calls dnsResolve or isInNet: a browser resolving every host name to
 * choose a proxy is slow and leaks the lookups to the local resolver. Network
 * rules apply to IP literal hosts only, exactly as in the agent's own matcher.
 *
 * Data arrives as `VP_DATA` (see serialize.ts); keys of lookup objects carry a
 * `$` prefix so a host named `__proto__` or `hasOwnProperty` is just a key.
 */
export const PAC_RUNTIME = String.raw`
function vpHas(o, k) { return Object.prototype.hasOwnProperty.call(o, '$' + k); }

function vpParse4(s) {
  if (!/^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/.test(s)) return null;
  var p = s.split('.');
  return [parseInt(p[0], 10), parseInt(p[1], 10), parseInt(p[2], 10), parseInt(p[3], 10)];
}

function vpGroups(s, v4Last) {
  if (s === '') return [];
  var p = s.split(':'), out = [], i, g, v4;
  for (i = 0; i < p.length; i++) {
    g = p[i];
    if (v4Last && i === p.length - 1 && g.indexOf('.') >= 0) {
      v4 = vpParse4(g);
      if (v4 === null) return null;
      out.push(v4[0] * 256 + v4[1], v4[2] * 256 + v4[3]);
    } else {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
  }
  return out;
}

function vpParse6(s) {
  var gap = s.indexOf('::'), head, tail, words, i;
  if (gap >= 0) {
    if (s.indexOf('::', gap + 1) >= 0) return null;
    head = vpGroups(s.slice(0, gap), false);
    tail = vpGroups(s.slice(gap + 2), true);
    if (head === null || tail === null || head.length + tail.length > 7) return null;
    words = head;
    for (i = head.length + tail.length; i < 8; i++) words.push(0);
    for (i = 0; i < tail.length; i++) words.push(tail[i]);
  } else {
    words = vpGroups(s, true);
    if (words === null || words.length !== 8) return null;
  }
  var bytes = [];
  for (i = 0; i < 8; i++) bytes.push(words[i] >> 8, words[i] & 255);
  return bytes;
}

function vpFormat6(b) {
  var words = [], i, bestBase = -1, bestLen = 0, curBase = -1, curLen = 0;
  for (i = 0; i < 8; i++) words.push(b[2 * i] * 256 + b[2 * i + 1]);
  for (i = 0; i < 8; i++) {
    if (words[i] === 0) {
      if (curBase < 0) { curBase = i; curLen = 1; } else { curLen++; }
      if (curLen > bestLen) { bestBase = curBase; bestLen = curLen; }
    } else {
      curBase = -1;
    }
  }
  if (bestLen < 2) bestBase = -1;
  var text = '';
  for (i = 0; i < 8; i++) {
    if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) text += ':';
      continue;
    }
    if (i !== 0) text += ':';
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 65535))) {
      text += b[12] + '.' + b[13] + '.' + b[14] + '.' + b[15];
      break;
    }
    text += words[i].toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLen === 8) text += ':';
  return text;
}

function vpHost(host) {
  var name = String(host).toLowerCase(), b, i, mapped;
  if (name.charAt(0) === '[' && name.charAt(name.length - 1) === ']') name = name.slice(1, name.length - 1);
  b = vpParse4(name);
  if (b !== null) return { name: name, family: 4, bytes: b };
  b = name.indexOf(':') >= 0 && name.indexOf('%') < 0 ? vpParse6(name) : null;
  if (b !== null) {
    mapped = b[10] === 255 && b[11] === 255;
    for (i = 0; i < 10; i++) if (b[i] !== 0) mapped = false;
    if (mapped) return { name: b[12] + '.' + b[13] + '.' + b[14] + '.' + b[15], family: 4, bytes: b.slice(12) };
    return { name: vpFormat6(b), family: 6, bytes: b };
  }
  if (name.charAt(name.length - 1) === '.') name = name.slice(0, name.length - 1);
  return { name: name, family: 0, bytes: null };
}

function vpPort(url) {
  var m = /^([a-zA-Z][a-zA-Z0-9+.\-]*):\/\/([^\/?#]*)/.exec(String(url)), auth, at, close, colon, p = null, scheme;
  if (!m) return 0;
  scheme = m[1].toLowerCase();
  auth = m[2];
  at = auth.lastIndexOf('@');
  if (at >= 0) auth = auth.slice(at + 1);
  if (auth.charAt(0) === '[') {
    close = auth.indexOf(']');
    if (close >= 0 && auth.charAt(close + 1) === ':') p = auth.slice(close + 2);
  } else {
    colon = auth.lastIndexOf(':');
    if (colon >= 0) p = auth.slice(colon + 1);
  }
  if (p !== null && /^[0-9]{1,5}$/.test(p)) return parseInt(p, 10);
  return scheme === 'https' || scheme === 'wss' ? 443 : scheme === 'ftp' ? 21 : 80;
}

function vpInNet(n, h) {
  if (h.family !== n[0]) return false;
  var net = n[1], prefix = n[2], full = prefix >> 3, rest = prefix & 7, i, mask;
  for (i = 0; i < full; i++) if (net[i] !== h.bytes[i]) return false;
  if (rest === 0) return true;
  mask = (255 << (8 - rest)) & 255;
  return (net[full] & mask) === (h.bytes[full] & mask);
}

function vpEnds(s, t) {
  return s.length >= t.length && s.substring(s.length - t.length) === t;
}

function vpFind(ix, h, port) {
  var name = h.name, i, dot, suffix, list, last, http, https, inUrl, r;
  if (vpHas(ix.x, name) || vpHas(ix.d, name) || vpHas(ix.p, String(port))) return true;
  if (h.family === 0) {
    for (dot = name.indexOf('.'); dot >= 0; dot = name.indexOf('.', dot + 1)) {
      suffix = name.slice(dot + 1);
      if (vpHas(ix.d, suffix) || vpHas(ix.s, suffix)) return true;
    }
  } else {
    for (i = 0; i < ix.n.length; i++) if (vpInNet(ix.n[i], h)) return true;
  }
  last = name.lastIndexOf('.');
  if (last >= 0 && vpHas(ix.w, name.slice(last + 1))) {
    list = ix.w['$' + name.slice(last + 1)];
    for (i = 0; i < list.length; i++) if (vpEnds(name, list[i])) return true;
  }
  if (vpHas(ix.w, '')) {
    list = ix.w.$;
    for (i = 0; i < list.length; i++) if (vpEnds(name, list[i])) return true;
  }
  for (i = 0; i < ix.c.length; i++) if (name.indexOf(ix.c[i]) >= 0) return true;
  if (ix.r.length > 0) {
    inUrl = h.family === 6 ? '[' + name + ']' : name;
    http = 'http://' + inUrl + '/';
    https = 'https://' + inUrl + '/';
    for (i = 0; i < ix.r.length; i++) {
      r = ix.r[i];
      if (r[0].test(name) || (r[1] === 'u' && (r[0].test(http) || r[0].test(https)))) return true;
    }
  }
  return false;
}

function vpCompile(ix) {
  for (var i = 0; i < ix.r.length; i++) ix.r[i] = [new RegExp(ix.r[i][0], ix.r[i][1]), ix.r[i][2]];
  return ix;
}

for (var vpI = 0; vpI < VP_DATA.lists.length; vpI++) {
  vpCompile(VP_DATA.lists[vpI].e);
  vpCompile(VP_DATA.lists[vpI].b);
}

function FindProxyForURL(url, host) {
  var h = vpHost(host), port = vpPort(url), i, l;
  for (i = 0; i < VP_DATA.lists.length; i++) {
    l = VP_DATA.lists[i];
    if (vpFind(l.e, h, port)) return 'DIRECT';
    if (vpFind(l.b, h, port)) return VP_DATA.proxy;
    if (l.f === 'd') return 'DIRECT';
    if (l.f === 'p') return VP_DATA.proxy;
  }
  return VP_DATA.otherwise === 'p' ? VP_DATA.proxy : 'DIRECT';
}
`;
