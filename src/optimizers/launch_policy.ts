/**
 * How many trainset examples a bootstrap walk may have in flight, so that a concurrent walk
 * makes (almost) no LM call the sequential walk would not make.
 *
 * The sequential walk (DSPy) runs examples 0, 1, 2, ... and stops at the example `s` where the
 * quota of successes fills: it makes the calls of examples 0..s. A concurrent walk only wastes
 * calls on examples launched past `s`. Outcomes are committed in trainset order; "uncommitted"
 * below = launched and not yet committed (in flight, or finished behind an earlier one).
 *
 *  - Exact rule: launch while `committedSuccesses + uncommitted < quota`, i.e. every
 *    uncommitted example counts as a potential success. This never launches past `s`: when the
 *    walk is about to launch an example past `s`, every example up to `s` is launched, so the
 *    committed successes plus the uncommitted examples up to `s` already reach the quota.
 *  - Slack: that alone runs a walk with a low success rate `quota` examples at a time (a
 *    teacher right 1 time in 40 would walk 160 examples 4 at a time). So `floor(SLACK *
 *    surelyNeeded)` more may be uncommitted, where `surelyNeeded` = quota + failures already
 *    committed is a number of examples the sequential walk certainly runs (it needs `quota`
 *    successes and every committed failure lies before `s`). By the argument above, fewer than
 *    that many examples past `s` are uncommitted whenever one more is launched, and an example
 *    past `s` is never committed, so at most that many are ever launched past `s`: a walk
 *    makes at most (1 + SLACK) x the sequential walk's examples. The slack grows with the
 *    evidence that successes are rare, which is when speculation pays.
 *
 * The result (which examples become demos) does not depend on this: outcomes are committed in
 * trainset order (concurrency.ts) and work past the quota is discarded.
 */

/** Extra in-flight examples allowed, as a fraction of the examples the walk surely needs. */
export const SPECULATION_SLACK = 0.1;

export interface WalkState {
  /** Successes the walk stops at (max_bootstrapped_demos). */
  quota: number;
  /** Successes committed so far (in trainset order). */
  committedSuccesses: number;
  /** Examples launched and not committed yet (in flight, or finished behind an earlier one). */
  uncommitted: number;
  /** Examples committed without a success. */
  committedFailures: number;
}

/** May the walk launch its next example now? */
export function mayLaunchExample(s: WalkState): boolean {
  const surelyNeeded = s.quota + s.committedFailures;
  return s.committedSuccesses + s.uncommitted < s.quota + Math.floor(SPECULATION_SLACK * surelyNeeded);
}
