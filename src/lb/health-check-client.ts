import { EventEmitter } from 'node:events';
import type { Address } from '../fd/address.js';
import { VproxyError } from '../fd/errors.js';
import type { Cancel, Clock } from './clock.js';
import { LbError } from './errors.js';
import type { HealthChecker } from './health-checkers.js';
import { type HealthCheckConfig, validateHealthCheck } from './health-config.js';
import { HealthState } from './health-state.js';

/** The outcome of one active probe. */
export interface CheckResult {
  readonly ok: boolean;
  /** From probe start to its end (or to the timeout), on the loop's clock. */
  readonly latencyMs: number;
  readonly error?: Error;
}

export interface HealthCheckEvents {
  /** The server turned UP (edge: only on the transition). */
  up: [];
  /**
   * The server turned DOWN (edge: only on the transition), with the failure that
   * did it; `passive` when failed proxy connects did it, not a probe.
   */
  down: [error: Error | undefined, passive: boolean];
  /** Every active probe, successful or not (the spec's upOnce / downOnce). */
  result: [result: CheckResult];
}

export interface HealthCheckStats {
  readonly isUp: boolean;
  readonly running: boolean;
  readonly curUp: number;
  readonly curDown: number;
  readonly checks: number;
  readonly failures: number;
  readonly passiveFailures: number;
  /** Latency of the last successful probe, null before the first. */
  readonly lastLatencyMs: number | null;
  /** Mean latency of the last (up to) 8 successful probes, null before the first. */
  readonly avgLatencyMs: number | null;
  readonly lastError: string | null;
}

const LATENCY_WINDOW = 8;

/**
 * Periodic health checking of one target, driven by an injected clock.
 *
 * The first probe starts as soon as `start()` is called; each next one starts
 * `periodMs` after the previous one ended (fixed delay, so a slow server never
 * has probes piling up). A probe still running after `timeoutMs` is aborted and
 * counts as a failure. Servers start DOWN. Passive detection: the proxy reports
 * failed backend connects, and `down` of them (net of successes) mark the
 * server DOWN without waiting for the next probe.
 */
export class HealthCheckClient extends EventEmitter<HealthCheckEvents> {
  readonly target: Address;
  #config: HealthCheckConfig;
  #checker: HealthChecker;
  readonly #state: HealthState;
  #clock: Clock | null = null;
  #timer: Cancel | null = null;
  #probe: AbortController | null = null;
  /** Bumped by stop/start: results of a probe from an older generation are dropped. */
  #generation = 0;
  #checks = 0;
  #failures = 0;
  #passiveFailures = 0;
  readonly #latencies = new Float64Array(LATENCY_WINDOW);
  #latencyCount = 0;
  #lastLatency: number | null = null;
  #lastError: Error | undefined;

  constructor(target: Address, config: HealthCheckConfig, checker: HealthChecker) {
    super();
    this.target = target;
    this.#config = validateHealthCheck(config);
    this.#checker = checker;
    checkKind(this.#config, checker);
    this.#state = new HealthState(this.#config.up, this.#config.down, false);
  }

  get isUp(): boolean {
    return this.#state.isUp;
  }

  get running(): boolean {
    return this.#clock !== null;
  }

  get config(): HealthCheckConfig {
    return this.#config;
  }

  /** Start probing on `clock` (a loop's clock); restarts if already running. */
  start(clock: Clock): void {
    this.stop();
    this.#clock = clock;
    const generation = this.#generation;
    if (this.#checker.kind === 'none') {
      if (this.#state.force(true)) this.emit('up');
      return;
    }
    this.#schedule(generation, 0);
  }

  /** Stop probing; the UP/DOWN state is kept. An in-flight probe is aborted. */
  stop(): void {
    this.#generation++;
    this.#timer?.();
    this.#timer = null;
    this.#probe?.abort(new VproxyError('ERR_CLOSED', 'health check stopped'));
    this.#probe = null;
    this.#clock = null;
  }

  /** New thresholds or check kind: state kept, partial counts reset, probing restarted. */
  reconfigure(config: HealthCheckConfig, checker: HealthChecker = this.#checker): void {
    const valid = validateHealthCheck(config);
    checkKind(valid, checker);
    const clock = this.#clock;
    this.stop();
    this.#config = valid;
    this.#checker = checker;
    this.#state.reset(valid.up, valid.down);
    if (clock !== null) this.start(clock);
  }

  /**
   * Passive detection: a connect to this target failed. Counts as a failed
   * probe; `down` of them (net) turn the server DOWN before the next probe.
   */
  reportConnectFailure(error?: Error): void {
    if (this.#checker.kind === 'none') return; // always UP: nothing would ever bring it back
    this.#passiveFailures++;
    if (error !== undefined) this.#lastError = error;
    if (this.#state.failure()) this.emit('down', error, true);
  }

  stats(): HealthCheckStats {
    const n = Math.min(this.#latencyCount, LATENCY_WINDOW);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += this.#latencies[i] ?? 0;
    return {
      isUp: this.#state.isUp,
      running: this.running,
      curUp: this.#state.curUp,
      curDown: this.#state.curDown,
      checks: this.#checks,
      failures: this.#failures,
      passiveFailures: this.#passiveFailures,
      lastLatencyMs: this.#lastLatency,
      avgLatencyMs: n === 0 ? null : sum / n,
      lastError: this.#lastError?.message ?? null,
    };
  }

  #schedule(generation: number, delayMs: number): void {
    const clock = this.#clock;
    if (clock === null || generation !== this.#generation) return;
    this.#timer = clock.schedule(delayMs, () => {
      this.#timer = null;
      this.#run(generation, clock);
    });
  }

  #run(generation: number, clock: Clock): void {
    if (generation !== this.#generation) return;
    const started = clock.now();
    const controller = new AbortController();
    this.#probe = controller;
    let finished = false;
    let cancelTimeout: Cancel | null = null;
    const finish = (error: Error | undefined) => {
      if (finished || generation !== this.#generation) return;
      finished = true;
      cancelTimeout?.();
      this.#timer = null;
      this.#probe = null;
      if (!controller.signal.aborted && error !== undefined) controller.abort(error);
      // Next probe first: an event listener that throws must not stop the checks.
      this.#schedule(generation, this.#config.periodMs);
      this.#record(error, clock.now() - started);
    };
    const { timeoutMs } = this.#config;
    cancelTimeout = clock.schedule(timeoutMs, () =>
      finish(
        new VproxyError('ERR_CONNECT_TIMEOUT', `health check timed out after ${timeoutMs} ms`),
      ),
    );
    // While a probe runs, the pending timer is its timeout: stop() cancels it.
    this.#timer = cancelTimeout;
    let running: Promise<void>;
    try {
      running = this.#checker.run(this.target, { signal: controller.signal, timeoutMs });
    } catch (err) {
      running = Promise.reject(err);
    }
    running.then(
      () => finish(undefined),
      (err: unknown) => finish(err instanceof Error ? err : new Error(String(err))),
    );
  }

  #record(error: Error | undefined, latencyMs: number): void {
    this.#checks++;
    if (error === undefined) {
      this.#lastLatency = latencyMs;
      this.#latencies[this.#latencyCount % LATENCY_WINDOW] = latencyMs;
      this.#latencyCount++;
      this.emit('result', { ok: true, latencyMs });
      if (this.#state.success()) this.emit('up');
    } else {
      this.#failures++;
      this.#lastError = error;
      this.emit('result', { ok: false, latencyMs, error });
      if (this.#state.failure()) this.emit('down', error, false);
    }
  }
}

function checkKind(config: HealthCheckConfig, checker: HealthChecker): void {
  if (config.check.kind !== checker.kind) {
    throw new LbError(
      'ERR_HEALTH_CHECK_INVALID',
      `invalid health check config: a ${checker.kind} checker cannot run a ${config.check.kind} check`,
    );
  }
}
