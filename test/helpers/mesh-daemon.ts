import { controllerArgs, HTTP_TOKEN, type RunningCli, startCli } from './cli.js';
import { closedPort } from './net.js';

// A vproxy daemon process on a registry (--etcd), driven through its REST API:
// what the mesh end-to-end tests start several of.

export interface MeshDaemon {
  readonly cli: RunningCli;
  readonly http: number;
}

export async function startMeshDaemon(options: {
  readonly configDir: string;
  readonly endpoints: readonly string[];
  readonly leaseTtlSeconds: number;
}): Promise<MeshDaemon> {
  const ports = { resp: await closedPort(), http: await closedPort() };
  const { running } = await startCli(
    [
      ...controllerArgs(ports),
      '--no-stdio',
      '--no-save',
      '--config-dir',
      options.configDir,
      '--drain-timeout',
      '1000',
      '--etcd',
      options.endpoints.join(','),
      '--etcd-lease-ttl',
      String(options.leaseTtlSeconds),
    ],
    /started;/,
  );
  return { cli: running, http: ports.http };
}

/** A REST call on /api/v1/module/<path>; the parsed JSON answer (null when empty); throws on >= 300. */
export async function rest(
  d: MeshDaemon,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const res = await fetch(`http://127.0.0.1:${d.http}/api/v1/module/${path}`, {
    method,
    headers: { authorization: `Bearer ${HTTP_TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text.length > 0 ? JSON.parse(text) : null;
}

/** One line of the command language through POST /api/v1/command; throws unless 200. */
export async function command(d: MeshDaemon, line: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${d.http}/api/v1/command`, {
    method: 'POST',
    headers: { authorization: `Bearer ${HTTP_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ command: line }),
  });
  if (res.status !== 200) throw new Error(`${line}: ${res.status} ${await res.text()}`);
}

/** The status page's model (what the page renders), from /api/v1/status. */
export async function statusOf<T>(d: MeshDaemon): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${d.http}/api/v1/status`, {
    headers: { authorization: `Bearer ${HTTP_TOKEN}` },
  });
  return (await res.json()) as T;
}

/** SIGTERM every daemon still running (a killed one has no exit left to wait for); the time each took. */
export async function stopMeshDaemons(daemons: readonly MeshDaemon[]): Promise<string[]> {
  const lines: string[] = [];
  for (const d of daemons) {
    if (d.cli.child.exitCode !== null || d.cli.child.signalCode !== null) continue;
    const at = performance.now();
    const code = await d.cli.stop();
    lines.push(
      `daemon stopped (SIGTERM) in ${Math.round(performance.now() - at)} ms, code ${code}`,
    );
  }
  return lines;
}

export { until } from './wait.js';
