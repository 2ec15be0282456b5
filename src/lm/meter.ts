/**
 * The meter context: every LM call made inside `runWithMeter(meter, fn)` (however deep, across
 * awaits) is counted in `meter.usage` and capped by `meter.budget`, without passing the meter
 * around. Concurrent runs each see their own meter (AsyncLocalStorage, not a global).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { checkBudget, type BudgetLimits } from './budget.js';
import { UsageTracker, type UsageRecord } from './usage.js';

export interface MeterOptions {
  usage?: UsageTracker;
  budget?: BudgetLimits;
  /** Epoch ms the wall-clock budget counts from; now by default. */
  startedAt?: number;
  /** Clock for the wall budget (tests inject one). */
  now?: () => number;
}

/**
 * A provider-call slot taken before the call; exactly one of commit/cancel must follow:
 * `commit` once anything was sent (answered, failed or aborted: a provider may bill it),
 * `cancel` only when nothing reached the provider.
 */
export interface MeterReservation {
  commit(record: UsageRecord): void;
  cancel(): void;
}

export class Meter {
  readonly usage: UsageTracker;
  budget: BudgetLimits | undefined;
  readonly startedAt: number;
  private readonly now: () => number;
  private inFlight = 0;

  constructor(opts: MeterOptions = {}) {
    this.usage = opts.usage ?? new UsageTracker();
    this.budget = opts.budget;
    this.now = opts.now ?? Date.now;
    this.startedAt = opts.startedAt ?? this.now();
  }

  elapsedMs(): number {
    return this.now() - this.startedAt;
  }

  /** Provider calls in flight (reserved, not yet answered). */
  get pending(): number {
    return this.inFlight;
  }

  /** Throws BudgetExceededError if any limit is already reached (counting calls in flight). */
  check(): void {
    if (!this.budget) return;
    checkBudget(this.budget, {
      calls: this.usage.providerCalls + this.inFlight,
      tokens: this.usage.tokens,
      costUsd: this.usage.costUsd,
      elapsedMs: this.elapsedMs(),
    });
  }

  /** Milliseconds left before the wall-clock budget ends (undefined: no wall budget). */
  remainingWallMs(): number | undefined {
    const max = this.budget?.maxWallMs;
    return max === undefined ? undefined : max - this.elapsedMs();
  }

  /** Only the wall-clock limit: applies to cache hits too. */
  checkWall(): void {
    if (this.budget?.maxWallMs === undefined) return;
    checkBudget({ maxWallMs: this.budget.maxWallMs }, {
      calls: 0,
      tokens: 0,
      costUsd: 0,
      elapsedMs: this.elapsedMs(),
    });
  }

  /** Checks the budget and takes a provider-call slot synchronously (no await in between). */
  reserve(): MeterReservation {
    this.check();
    this.inFlight += 1;
    let done = false;
    return {
      commit: (record) => {
        if (done) return;
        done = true;
        this.inFlight -= 1;
        this.usage.record(record);
      },
      cancel: () => {
        if (done) return;
        done = true;
        this.inFlight -= 1;
      },
    };
  }

  /** Records a call that took no provider slot (a cache hit). */
  record(record: UsageRecord): void {
    this.usage.record(record);
  }
}

/** Innermost meter first, then every enclosing one (a meter appears at most once). */
const storage = new AsyncLocalStorage<readonly Meter[]>();

/**
 * Runs `fn` with `meter` as the current meter. Meters nest: calls inside are counted and capped
 * by `meter` AND by every meter already current (a session budget still caps a run inside it).
 */
export function runWithMeter<T>(meter: Meter, fn: () => T): T {
  const outer = storage.getStore() ?? [];
  return storage.run([meter, ...outer.filter((m) => m !== meter)], fn);
}

/** The innermost current meter. */
export function currentMeter(): Meter | undefined {
  return storage.getStore()?.[0];
}

/** Every current meter, innermost first (empty outside any `runWithMeter`). */
export function currentMeters(): readonly Meter[] {
  return storage.getStore() ?? [];
}
