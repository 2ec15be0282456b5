/**
 * How many trainset examples a bootstrap walk may have in flight, so that a concurrent walk
 * makes (almost) no LM call the sequential walk would not make.
 *
 * The sequential walk (DSPy) runs examples 0, 1, 2, ... and stops at the example `s` where the
 * quota of successes fills: it makes the calls of examples 0..s. A concurrent walk only wastes
 * calls on examples launched past `s`.
 *
 *  - Exact rule: launch while `inFlight < need` (need = quota minus the successes already
 *    known), i.e. every example in flight counts as a potential success. This never launches
 *    past `s`: when the walk is about to launch an example past `s`, every success up to `s` is
 *    either known or in flight, so known + inFlight >= quota and the rule refuses.
 *  - Slack: that alone runs a walk with a low success rate `need` examples at a time (a teacher
 *    right 1 time in 40 would walk 160 examples 4 at a time). So `floor(SLACK * lowerBound)`
 *    more may be in flight, where `lowerBound` = quota + failures already committed is a
 *    number of examples the sequential walk certainly runs (it needs `quota` successes and
 *    every committed failure lies before `s`). By the argument above, at most that many
 *    examples past `s` can be in flight when the quota fills, so a walk makes at most
 *    (1 + SLACK) x the sequential walk's examples. The slack grows with the evidence that
 *    successes are rare, which is when speculation pays.
 *
 * The result (which examples become demos) does not depend on this: outcomes are committed in
 * trainset order (concurrency.ts) and work past the quota is discarded.
 */

/** Extra in-flight examples allowed, as a fraction of the examples the walk surely needs. */
export const SPECULATION_SLACK = 0.1;

export interface WalkState {
  /** Successes the walk stops at (max_bootstrapped_demos). */
  quota: number;
  /** Successes known so far: committed, plus finished but not yet committed. */
  knownSuccesses: number;
  /** Examples launched whose outcome is not known yet. */
  inFlight: number;
  /** Examples committed (in trainset order) without a success. */
  committedFailures: number;
}

/** May the walk launch its next example now? */
export function mayLaunchExample(s: WalkState): boolean {
  const need = s.quota - s.knownSuccesses;
  if (need <= 0) return false;
  const surelyNeeded = s.quota + s.committedFailures;
  return s.inFlight < need + Math.floor(SPECULATION_SLACK * surelyNeeded);
}
