/**
 * Budget limits and the typed error raised when one is reached. Limits are checked BEFORE a
 * call goes to a provider, so a run stops at its cap instead of one call past it.
 *
 * - `maxCalls` caps calls that reach a provider (cache hits are free and not counted). With
 *   concurrency, a call reserves its slot before it is sent, so N concurrent calls under
 *   `maxCalls: 5` make exactly 5 provider calls.
 * - `maxTokens` / `maxUsd` cannot be known before a call answers: they are checked before and
 *   accounted after, so a concurrent run can overshoot them by at most the calls in flight.
 * - `maxWallMs` is measured from the meter's `startedAt`.
 */
import { ElexirionError } from '../errors.js';
import * as z from 'zod';

export const BudgetLimitsSchema = z.object({
  maxCalls: z.number().int().nonnegative().optional(),
  maxTokens: z.number().nonnegative().optional(),
  maxUsd: z.number().nonnegative().optional(),
  maxWallMs: z.number().nonnegative().optional(),
});
export type BudgetLimits = z.infer<typeof BudgetLimitsSchema>;
/** Alias used by docs/CONTRACTS.md ("`Budget` limits"). */
export type Budget = BudgetLimits;

export type BudgetKind = 'calls' | 'tokens' | 'usd' | 'wall';

export class BudgetExceededError extends ElexirionError {
  override readonly code: string = 'BUDGET_EXCEEDED_ERROR';
  override readonly name = 'BudgetExceededError';
  constructor(
    readonly kind: BudgetKind,
    readonly limit: number,
    readonly used: number,
  ) {
    super(`budget exceeded: ${kind} limit ${limit} reached (used ${used})`);
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, kind: this.kind, limit: this.limit, used: this.used, message: this.message };
  }
}

export function isBudgetExceededError(e: unknown): e is BudgetExceededError {
  return e instanceof BudgetExceededError;
}

export interface BudgetState {
  /** Provider calls made plus those reserved and still in flight. */
  calls: number;
  tokens: number;
  costUsd: number;
  elapsedMs: number;
}

/** Throws the first limit `state` has reached. */
export function checkBudget(limits: BudgetLimits | undefined, state: BudgetState): void {
  if (!limits) return;
  if (limits.maxWallMs !== undefined && state.elapsedMs >= limits.maxWallMs) {
    throw new BudgetExceededError('wall', limits.maxWallMs, state.elapsedMs);
  }
  if (limits.maxCalls !== undefined && state.calls >= limits.maxCalls) {
    throw new BudgetExceededError('calls', limits.maxCalls, state.calls);
  }
  if (limits.maxTokens !== undefined && state.tokens >= limits.maxTokens) {
    throw new BudgetExceededError('tokens', limits.maxTokens, state.tokens);
  }
  if (limits.maxUsd !== undefined && state.costUsd >= limits.maxUsd) {
    throw new BudgetExceededError('usd', limits.maxUsd, state.costUsd);
  }
}
