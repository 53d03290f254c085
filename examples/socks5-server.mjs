// A socks5 server with users (RFC 1929 username/password). Its upstream names
// what clients may reach: a request for `echo.internal:<any port>` goes to the
// server group of that name; anything else is refused (no open proxy).
// Run: node examples/socks5-server.mjs (everything on loopback).
import { once } from 'node:events';
import net from 'node:net';
import { createDefaultRegistry, isVproxyError } from 'vproxy-ts';
import { ServerGroup, Socks5Server, Upstream } from 'vproxy-ts/lb';
import { Socks5Reply, socks5Connect } from 'vproxy-ts/protocols';

const registry = createDefaultRegistry();
const echo = net.createServer((s) => s.pipe(s)).listen(0, '127.0.0.1');
await once(echo, 'listening');

// No health check: the one backend counts as UP from the start.
const group = new ServerGroup({
  name: 'echo.internal',
  healthCheck: { timeoutMs: 1000, periodMs: 1000, up: 1, down: 1, check: { kind: 'none' } },
});
group.add('echo-1', `tcp://127.0.0.1:${echo.address().port}`);
const upstream = new Upstream('socks-targets');
upstream.add(group);

const socks = await Socks5Server.start({
  name: 'socks',
  address: 'tcp://127.0.0.1:0',
  upstream,
  registry,
  auth: { users: { alice: 'wonderland', bob: 'builder' } },
});
const proxy = `tcp://127.0.0.1:${socks.bound().port}`;
console.log(`socks5 server on ${proxy}, users alice and bob`);

/** Connect through the socks5 server; resolves with the echo of `text`, or rejects. */
async function through(username, password, host, text) {
  const fd = await registry.connect(proxy);
  await socks5Connect(fd, { target: { host, port: 7 }, auth: { username, password } });
  let back = '';
  fd.setEncoding('utf8').on('data', (chunk) => {
    back += chunk;
  });
  fd.end(text);
  await once(fd, 'end');
  fd.destroy();
  return back;
}

/** The error code a refused attempt failed with (and the socks5 reply code, if any). */
async function refusal(attempt) {
  try {
    await attempt;
    return 'accepted';
  } catch (err) {
    if (!isVproxyError(err)) throw err;
    return err.replyCode === undefined ? err.code : `${err.code} (reply ${err.replyCode})`;
  }
}

const answer = await through('alice', 'wonderland', 'echo.internal', 'hi from alice');
console.log(`alice -> echo.internal:7: ${JSON.stringify(answer)}`);
const badPassword = await refusal(through('alice', 'guess', 'echo.internal', 'x'));
console.log(`alice with a wrong password: ${badPassword}`);
const elsewhere = await refusal(through('bob', 'builder', 'example.com', 'x'));
console.log(`bob -> example.com:7 (not a backend): ${elsewhere}`);

const ok =
  answer === 'hi from alice' &&
  badPassword === 'ERR_SOCKS5_AUTH_FAILED' &&
  elsewhere === `ERR_SOCKS5_REQUEST_FAILED (reply ${Socks5Reply.NOT_ALLOWED})`;
console.log(ok ? 'ok: the user got through, the rest was refused' : 'FAILED');

await socks.close();
await group.close();
echo.close();
process.exitCode = ok ? 0 : 1;
