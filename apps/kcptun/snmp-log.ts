import { constants } from 'node:fs';
import { access, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  kcptunSnmp,
  type SnmpCounters,
  snmpCsvLine,
  snmpHeaderLine,
} from '../../transports/kcptun/index.js';
import type { KcptunCli } from './flags.js';
import { snmpLogPath } from './go-time-format.js';

export interface SnmpLogOptions {
  /** `--snmplog`: the file name, its last path element a Go time layout. */
  readonly path: string;
  /** `--snmpperiod`, seconds (> 0). */
  readonly periodSeconds: number;
  /** Told once, when the file cannot be written; logging then stops (as kcptun's does). */
  readonly warn: (line: string) => void;
  /** The counters (default: the process-wide kcptunSnmp). */
  readonly snapshot?: () => SnmpCounters;
  /** The clock (tests). */
  readonly now?: () => Date;
}

/**
 * kcptun's SnmpLogger (generic/snmp.go of 20210922): every period, open the file named by
 * formatting the pattern with the time, write the header if the file is empty, append one
 * line of the cumulative counters (never reset), close it. One timer owns the file: a tick
 * while the previous write is still in flight is skipped, and stop() waits for that write.
 */
export class SnmpLog {
  readonly #o: SnmpLogOptions;
  #timer: NodeJS.Timeout | null = null;
  #writing: Promise<boolean> | null = null;
  #failed = false;

  constructor(options: SnmpLogOptions) {
    this.#o = options;
  }

  /** Starts the timer; the first line is written one period from now, as kcptun's ticker does. */
  start(): void {
    if (this.#timer !== null || this.#failed) return;
    this.#timer = setInterval(() => {
      if (this.#writing === null) void this.write();
    }, this.#o.periodSeconds * 1000);
    // The listener keeps the process alive, not the log.
    this.#timer.unref();
  }

  /** Whether the timer runs (false once stopped or after a failed write). */
  get running(): boolean {
    return this.#timer !== null;
  }

  /** Stops the timer and waits for a write in flight (its file is closed when it returns). */
  async stop(): Promise<void> {
    this.#clear();
    await this.#writing;
  }

  /** One tick: appends a line now. Resolves false (after the one warning) when it failed. */
  write(): Promise<boolean> {
    if (this.#failed) return Promise.resolve(false);
    const now = (this.#o.now ?? (() => new Date()))();
    // The counters as of the tick, before any await.
    const counters = (this.#o.snapshot ?? (() => kcptunSnmp.snapshot()))();
    const file = snmpLogPath(this.#o.path, now);
    const p = append(file, now, counters).then(
      () => true,
      (err: unknown) => {
        this.#fail(`--snmplog ${file}: ${(err as Error).message}; SNMP logging stopped`);
        return false;
      },
    );
    this.#writing = p;
    void p.finally(() => {
      if (this.#writing === p) this.#writing = null;
    });
    return p;
  }

  /**
   * A start-up check kcptun does not make (it finds out one period later): the directory
   * must exist and be writable. False, after the one warning, when it is not.
   */
  async check(): Promise<boolean> {
    const dir = dirname(this.#o.path);
    try {
      await access(dir, constants.W_OK);
      return true;
    } catch (err) {
      this.#fail(
        `--snmplog ${this.#o.path}: directory ${dir} is not writable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); SNMP logging is off`,
      );
      return false;
    }
  }

  #fail(message: string): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#clear();
    this.#o.warn(message);
  }

  #clear(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}

async function append(file: string, now: Date, counters: SnmpCounters): Promise<void> {
  // O_APPEND|O_CREATE, mode 0666 before the umask: kcptun's os.OpenFile flags.
  const fh = await open(file, 'a', 0o666);
  try {
    const { size } = await fh.stat();
    const line = snmpCsvLine(now.getTime() / 1000, counters);
    await fh.write(size === 0 ? snmpHeaderLine() + line : line);
  } finally {
    await fh.close();
  }
}

/** `--snmplog`/`--snmpperiod` of a command line: the running log, or null when off. */
export async function startSnmpLog(
  cli: Pick<KcptunCli, 'snmplog' | 'snmpperiod'>,
  warn: (line: string) => void,
): Promise<SnmpLog | null> {
  // kcptun: `if path == "" || interval == 0 { return }`.
  if (cli.snmplog === '' || cli.snmpperiod === 0) return null;
  const log = new SnmpLog({ path: cli.snmplog, periodSeconds: cli.snmpperiod, warn });
  if (!(await log.check())) return null;
  log.start();
  return log;
}
