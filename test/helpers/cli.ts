import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { findTool } from './require-tool.js';

export const VPROXY_BIN = fileURLToPath(new URL('../../dist/apps/vproxy.js', import.meta.url));

export interface RunningCli {
  readonly child: ChildProcess;
  readonly output: () => string;
  /** SIGTERM, then wait for the exit code. */
  stop(): Promise<number | null>;
}

/** Start the built CLI and wait until it prints a line matching `ready`. */
export async function startCli(
  args: readonly string[],
  ready: RegExp,
  options: { timeoutMs?: number; stdin?: boolean; cwd?: string; env?: NodeJS.ProcessEnv } = {},
) {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const child = spawn(process.execPath, [VPROXY_BIN, ...args], {
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.env === undefined ? {} : { env: options.env }),
  });
  let output = '';
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`CLI not ready in ${timeoutMs} ms:\n${output}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = output.match(ready);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`CLI exited with ${code}:\n${output}`));
    });
  });
  const running: RunningCli = {
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      return code as number | null;
    },
  };
  return { running, match };
}

/** Resident set size of a process, from /proc (Linux). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = status.match(/VmRSS:\s+(\d+) kB/);
  if (!m?.[1]) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** The controller secrets every daemon test uses. */
export const RESP_PASSWORD = 'pw';
export const HTTP_TOKEN = 'tok';

/** Daemon flags: RESP and HTTP controllers on these loopback ports, with the test secrets. */
export function controllerArgs(ports: { readonly resp: number; readonly http: number }): string[] {
  return [
    '--resp-controller',
    `127.0.0.1:${ports.resp}`,
    '--resp-password',
    RESP_PASSWORD,
    '--http-controller',
    `127.0.0.1:${ports.http}`,
    '--http-token',
    HTTP_TOKEN,
  ];
}

const execFileAsync = promisify(execFile);

/**
 * One command through the real redis-cli; its non-empty output lines (an error
 * is a line starting with ERR). Suites that call it skip or fail up front with
 * `requireTool('redis-cli')`; this lookup only gives the same absolute path.
 */
export async function redisCli(respPort: number, line: string): Promise<string[]> {
  const { stdout } = await execFileAsync(findTool('redis-cli') ?? 'redis-cli', [
    '-p',
    String(respPort),
    '-a',
    RESP_PASSWORD,
    '--no-auth-warning',
    ...line.split(' '),
  ]);
  return stdout.split('\n').filter((l) => l.length > 0);
}
