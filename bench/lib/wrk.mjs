// wrk as the HTTP load: one run's request rate plus every error it reports
// (socket errors by kind, non-2xx/3xx responses), parsed from its text output.
import { HOST, runClient } from './procs.mjs';

const NUM = String.raw`(\d+(?:\.\d+)?)`;

/** Parses wrk's summary; throws with the output when there is no rate in it. */
export function parseWrk(text) {
  const rate = new RegExp(`Requests/sec:\\s+${NUM}`).exec(text);
  if (!rate) throw new Error(`no Requests/sec in wrk output:\n${text}`);
  const total = /(\d+) requests in ([\d.]+\w+)/.exec(text);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  const [connect, read, write, timeout] = sock ? sock.slice(1).map(Number) : [0, 0, 0, 0];
  return {
    rps: Number(rate[1]),
    requests: total ? Number(total[1]) : Number.NaN,
    socketErrors: { connect, read, write, timeout },
    non2xx: non2xx ? Number(non2xx[1]) : 0,
  };
}

export const errorCount = (r) =>
  r.non2xx +
  r.socketErrors.connect +
  r.socketErrors.read +
  r.socketErrors.write +
  r.socketErrors.timeout;

/**
 * `wrk -c connections -t threads -d seconds s http://HOST:port/`; with `close`,
 * every request carries `Connection: close` (one connection per request).
 */
export async function runWrk(port, { seconds, connections, threads, close }) {
  const args = ['-c', String(connections), '-t', String(threads), '-d', `${seconds}s`];
  if (close) args.push('-H', 'Connection: close');
  args.push(`http://${HOST}:${port}/`);
  const { err, stdout, stderr } = await runClient('wrk', args, {
    timeout: (seconds + 30) * 1000,
    maxBuffer: 1 << 20,
  });
  if (err) throw new Error(`wrk ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`);
  return { ...parseWrk(stdout), output: stdout };
}

export function describeWrkErrors(r) {
  const s = r.socketErrors;
  return `non-2xx ${r.non2xx}, socket errors connect ${s.connect} read ${s.read} write ${s.write} timeout ${s.timeout}`;
}
