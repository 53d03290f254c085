// iperf3 as a load: one client run in bits/s, retried when the server was still
// finishing a test (or a health-check probe made it reset), with the output of
// any crashed server in the error.
import { childReport, HOST, isInterrupted, log, runClient, sleep } from './procs.mjs';

async function iperf3Client(port, streams, seconds) {
  const args = ['-c', HOST, '-p', String(port), '-t', String(seconds), '-P', String(streams), '-J'];
  const opts = { timeout: (seconds + 30) * 1000, maxBuffer: 64 << 20 };
  const { err, stdout } = await runClient('iperf3', args, opts);
  try {
    return JSON.parse(stdout);
  } catch {
    return { error: err ? err.message : 'unparseable iperf3 output' };
  }
}

/**
 * One measurement of `iperf3 -c HOST -p port -P streams -t seconds`, in bits/s
 * received. `servers` are the children the measurement depends on: when one has
 * died, the error says so instead of retrying.
 */
export async function measureIperf3(port, streams, seconds, servers) {
  for (let attempt = 1; ; attempt++) {
    const json = await iperf3Client(port, streams, seconds);
    const bps = json.end?.sum_received?.bits_per_second;
    if (!json.error && typeof bps === 'number') return bps;
    if (isInterrupted()) throw new Error('interrupted');
    await sleep(2000); // let a crashed server's exit be noticed, or a busy one finish
    const dead = servers.filter((c) => c?.exit);
    if (dead.length > 0)
      throw new Error(`iperf3 failed: ${json.error}\n${dead.map(childReport).join('\n')}`);
    if (attempt >= 3) throw new Error(`iperf3 failed ${attempt} times, last: ${json.error}`);
    log(`   iperf3 error (${json.error}), retrying`);
  }
}
