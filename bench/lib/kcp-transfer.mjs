// One measured transfer across the emulated link for bench/kcp.mjs and bench/kcp-link.mjs:
// a fresh receiver (pump.mjs) in ns.server and a fresh sender in ns.client, through a started
// path (bench/lib/kcp-paths.mjs); CPU of the path's proxies read around it.
import { fileURLToPath } from 'node:url';
import { NotAvailable, RECV_PORT, startPath } from './kcp-paths.mjs';
import { inNs } from './netns.mjs';
import { cpuSeconds, isInterrupted, log, startChild, stopChild, waitOutput } from './procs.mjs';

const PUMP = fileURLToPath(new URL('./pump.mjs', import.meta.url));
const PUMP_CC = fileURLToPath(new URL('./pump-send-cc.py', import.meta.url));

export const sumCpu = (procs) => procs.reduce((s, c) => s + cpuSeconds(c), 0);

/**
 * Move `bytes` from a fresh sender in ns.client to a fresh receiver in ns.server through
 * `path`. Time = receiver's last byte − sender's start (one monotonic clock for both).
 */
export async function transfer(ns, path, bytes, timeoutMs) {
  const node = process.execPath;
  const recvArgs = [PUMP, 'recv', '0.0.0.0', RECV_PORT, bytes];
  const receiver = startChild('receiver', ...inNs(ns.server, node, recvArgs));
  let sender = null;
  try {
    await waitOutput(receiver, /READY/);
    const cpu0 = sumCpu(path.procs);
    // TCP rows pin the congestion control per socket (python sender), the rest use Node.
    sender = path.cc
      ? startChild(
          'sender',
          ...inNs(ns.client, 'python3', [PUMP_CC, path.host, path.port, bytes, path.cc]),
        )
      : startChild('sender', ...inNs(ns.client, node, [PUMP, 'send', path.host, path.port, bytes]));
    try {
      await waitOutput(receiver, /RESULT .*\n/, timeoutMs);
    } catch (err) {
      if (receiver.exit) throw err;
      receiver.proc.kill('SIGUSR2'); // deadline: take the partial count
      await waitOutput(receiver, /RESULT .*\n/, 5000);
    }
    const cpu = sumCpu(path.procs) - cpu0;
    const r = JSON.parse(/RESULT (.*)\n/.exec(receiver.output)[1]);
    const t0 = /T0 (\d+)/.exec(sender.output)?.[1];
    if (!t0) throw new Error(`sender printed no T0: ${sender.output}`);
    const cc = /CC (\w+)/.exec(sender.output)?.[1];
    if (path.cc && cc !== path.cc) throw new Error(`sender's socket uses ${cc}, not ${path.cc}`);
    const seconds = Number(BigInt(r.tLast) - BigInt(t0)) / 1e9;
    const error = r.error ?? (r.bytes !== bytes ? `got ${r.bytes} of ${bytes} bytes` : undefined);
    if (error && error !== 'timeout') log(`   !! ${error}; sender said: ${sender.output.trim()}`);
    return { bytes: r.bytes, seconds, error, cpuPerGB: cpu / (bytes / 1e9) };
  } finally {
    await stopChild(sender);
    await stopChild(receiver);
  }
}

/**
 * Start `row`'s path (startPath's options), run `measure(path)` on it, stop it. A path that
 * cannot start or a measurement that throws becomes `{ failed }` (logged), our transport
 * missing from the build `{ unavailable }`; an interrupted bench still throws.
 */
export async function onPath(row, options, measure) {
  let path;
  try {
    path = await startPath(row.path, options);
  } catch (err) {
    if (err instanceof NotAvailable) return { unavailable: true };
    log(`   !! ${row.label} failed to start: ${err.message}`);
    return { failed: err.message.split('\n')[0] };
  }
  try {
    return await measure({ ...path, cc: row.cc });
  } catch (err) {
    if (isInterrupted()) throw err;
    log(`   !! ${row.label} failed: ${err.message}`);
    return { failed: err.message.split('\n')[0] };
  } finally {
    await path.stop();
  }
}
