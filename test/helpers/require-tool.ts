import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

// External tools (haproxy, nginx, chromium, curl, redis-cli, openssl) are found
// as a user's login shell would find them: PATH first, then the sbin and bin
// directories a root or Debian login shell has even when the test runner's PATH
// lacks them (haproxy and nginx live in /usr/sbin). A missing tool must never
// turn into a silent pass: with CI set the suite fails at collection naming the
// tool; locally it is skipped, and the skip says why in its title and on stderr.

/** Directories searched after PATH, in this order. */
export const EXTRA_TOOL_DIRS: readonly string[] = [
  '/usr/sbin',
  '/sbin',
  '/usr/local/sbin',
  '/usr/bin',
];

/** The Debian package that provides each tool, for the install hint. */
const PACKAGES: Readonly<Record<string, string>> = {
  haproxy: 'haproxy',
  nginx: 'nginx',
  chromium: 'chromium fonts-dejavu-core',
  'redis-cli': 'redis-tools',
  curl: 'curl',
  openssl: 'openssl',
  iperf3: 'iperf3',
  wrk: 'wrk',
  'kcptun-server': 'kcptun',
  'kcptun-client': 'kcptun',
  etcd: 'etcd-server',
  dig: 'dnsutils',
  dnsmasq: 'dnsmasq',
  socat: 'socat',
  'ss-local': 'shadowsocks-libev',
};

export interface ToolLookupEnv {
  /** PATH as the shell sees it (default: process.env.PATH). */
  readonly path?: string | undefined;
  /**
   * Directories searched after PATH (default: VPROXY_TOOL_DIRS, colon-separated, if set —
   * the CI check of a missing tool sets it to hide the sbin dirs — else EXTRA_TOOL_DIRS).
   */
  readonly extraDirs?: readonly string[];
  /** Whether this is a CI run (default: process.env.CI is set and not "" / "0" / "false"). */
  readonly ci?: boolean;
}

export interface RequiredTool {
  readonly name: string;
  /** Absolute path of the binary; when missing (local runs only), the bare name. */
  readonly path: string;
  /** True only in a local run where the tool was not found: the caller skips. */
  readonly missing: boolean;
  /** Why it is missing, naming the tool and the places searched; '' when found. */
  readonly reason: string;
}

function isExecutableFile(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function isCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.CI;
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

function defaultExtraDirs(): readonly string[] {
  const fromEnv = process.env.VPROXY_TOOL_DIRS;
  return fromEnv === undefined ? EXTRA_TOOL_DIRS : fromEnv.split(delimiter);
}

/** The directories searched, in order, without duplicates (relative PATH entries are skipped, as `command -v` would resolve them against a cwd we don't control). */
export function toolSearchDirs(env: ToolLookupEnv = {}): string[] {
  const pathDirs = (env.path ?? process.env.PATH ?? '').split(delimiter);
  const dirs: string[] = [];
  for (const d of [...pathDirs, ...(env.extraDirs ?? defaultExtraDirs())]) {
    if (d !== '' && isAbsolute(d) && !dirs.includes(d)) dirs.push(d);
  }
  return dirs;
}

/** Absolute path of `name`, or undefined. */
export function findTool(name: string, env: ToolLookupEnv = {}): string | undefined {
  for (const dir of toolSearchDirs(env)) {
    const file = join(dir, name);
    if (isExecutableFile(file)) return file;
  }
  return undefined;
}

/** The message used when `name` is not found (exported so tests can match it). */
export function missingToolReason(name: string, env: ToolLookupEnv = {}): string {
  const pkg = PACKAGES[name] ?? name;
  return `${name} not found on PATH or in ${toolSearchDirs(env).join(':')} (apt-get install -y ${pkg})`;
}

/**
 * Look `name` up for a test suite. Found: its absolute path. Missing and CI:
 * throws (call it at module level, so the file fails at collection with the
 * tool's name). Missing locally: `missing` is true, a warning goes to stderr,
 * and the caller skips with `describe.skipIf(tool.missing)` and `skipNote(tool)`
 * in the title.
 */
export function requireTool(name: string, env: ToolLookupEnv = {}): RequiredTool {
  const found = findTool(name, env);
  if (found !== undefined) return { name, path: found, missing: false, reason: '' };
  const reason = missingToolReason(name, env);
  if (env.ci ?? isCi()) {
    throw new Error(`required tool missing in CI: ${reason}`);
  }
  console.warn(`SKIPPING tests that need ${name}: ${reason}`);
  return { name, path: name, missing: true, reason };
}

/** True when any of the tools is missing (local runs only; CI has thrown already). */
export function anyMissing(...tools: readonly RequiredTool[]): boolean {
  return tools.some((t) => t.missing);
}

/** '' when all tools were found, else ' (SKIPPED: <reasons>)' for a suite or test title. */
export function skipNote(...tools: readonly RequiredTool[]): string {
  const reasons = tools.filter((t) => t.missing).map((t) => t.reason);
  return reasons.length === 0 ? '' : ` (SKIPPED: ${reasons.join('; ')})`;
}
