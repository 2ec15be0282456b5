/**
 * BestOfN: DSPy's `dspy.BestOfN`. Runs a module up to N times, attempt i with rollout id
 * start + i and temperature 1.0 (fresh samples, not cache hits), scores each prediction with
 * `rewardFn(inputs, prediction)` and returns the first one reaching `threshold`, else the best.
 * An attempt that throws counts as a failure; more than `failCount` failures (default N)
 * rethrows the last error. The winning attempt's trace is added to the caller's trace, so an
 * optimizer sees only the calls that produced the returned prediction.
 */
import { ElexirionError } from '../errors.js';
import { Module } from './module.js';
import type { Prediction } from './prediction.js';
import { rolloutIdAt } from './rollout.js';
import { settings } from './settings.js';
import { recordTrace, withTrace, type TraceEntry } from './trace.js';

/** Scores a prediction for its inputs (higher is better); may be async. */
export type RewardFn = (inputs: Record<string, unknown>, prediction: Prediction) => number | Promise<number>;

/** Options of BestOfN and Refine (DSPy's `N`, `reward_fn`, `threshold`, `fail_count`). */
export interface BestOfNOptions {
  /** Attempts at most (DSPy's `N`). */
  n: number;
  rewardFn: RewardFn;
  /** Stop at the first attempt whose reward is >= threshold. */
  threshold: number;
  /** Failed attempts tolerated before the error is rethrown (default n). */
  failCount?: number;
}

/** Why every attempt failed, with the last attempt's error as cause. */
export class AllAttemptsFailedError extends ElexirionError {
  override readonly code: string = 'ALL_ATTEMPTS_FAILED_ERROR';
  override name = 'AllAttemptsFailedError';
}

/** One attempt's outcome, for subclasses (Refine) that act between attempts. */
export interface Attempt {
  index: number;
  rolloutId: string | number;
  prediction: Prediction;
  reward: number;
  trace: TraceEntry[];
}

/** Runs a module up to N times and returns the first prediction reaching the threshold, else the best (see the file comment). */
export class BestOfN extends Module {
  module: Module;
  readonly n: number;
  readonly threshold: number;
  readonly failCount: number;
  readonly rewardFn: RewardFn;

  constructor(module: Module, options: BestOfNOptions) {
    super();
    if (!(module instanceof Module)) throw new TypeError(`${new.target.name}: module must be a Module`);
    if (!Number.isInteger(options.n) || options.n < 1) throw new RangeError(`${new.target.name}: n must be a positive integer, got ${String(options.n)}`);
    if (typeof options.rewardFn !== 'function') throw new TypeError(`${new.target.name}: rewardFn must be a function`);
    this.module = module;
    this.n = options.n;
    this.threshold = options.threshold;
    this.failCount = options.failCount ?? options.n;
    this.rewardFn = options.rewardFn;
  }

  /** Run the attempts for `inputs`. */
  forward(inputs: Record<string, unknown>): Promise<Prediction> {
    return this.attempts(inputs, (_attempt, run) => run());
  }

  /**
   * The attempt loop. `around(i, run)` runs attempt i (Refine wraps it with hints) and may act
   * after it through `afterAttempt`.
   */
  protected async attempts(
    inputs: Record<string, unknown>,
    around: (index: number, run: () => Promise<Prediction>) => Promise<Prediction>,
    afterAttempt?: (attempt: Attempt) => Promise<void>,
  ): Promise<Prediction> {
    const base = settings.current().rolloutId;
    let best: Attempt | undefined;
    let failures = 0;
    let lastError: unknown;
    for (let i = 0; i < this.n; i++) {
      const rolloutId = rolloutIdAt(base, i);
      try {
        const { result: prediction, trace } = await withTrace(() =>
          settings.context({ rolloutId, temperature: 1.0 }, () => around(i, () => this.module.call(inputs))),
        );
        // The reward's own LM calls (a judge) are not part of the attempt's trace, as in DSPy.
        const reward = Number(await this.rewardFn(inputs, prediction));
        const attempt: Attempt = { index: i, rolloutId, prediction, reward, trace };
        if (best === undefined || attempt.reward > best.reward) best = attempt;
        if (attempt.reward >= this.threshold) break;
        if (afterAttempt && i < this.n - 1) await afterAttempt(attempt);
      } catch (e) {
        settings.current().signal?.throwIfAborted();
        failures++;
        lastError = e;
        if (failures > this.failCount) throw e;
      }
    }
    if (!best) {
      throw new AllAttemptsFailedError(`${this.constructor.name}: all ${this.n} attempts failed: ${(lastError as Error)?.message ?? String(lastError)}`, { cause: lastError });
    }
    for (const entry of best.trace) recordTrace(entry);
    return best.prediction;
  }
}
