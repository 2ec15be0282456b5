// Promote a re-optimized config only when it is really better.
//
// Input: per-example scores of the current config and of the candidate on the SAME held-out
// examples (paired). With d_i = candidate_i - current_i:
//   - mean(d) must exceed `margin`, and
//   - the lower bound of a seeded paired-bootstrap percentile interval of mean(d) (confidence
//     0.95, 2000 resamples by default; nearest-rank percentiles) must be > 0, i.e. the gain is
//     distinguishable from noise. With `lowerBoundAboveMargin: true` the bound must exceed the
//     margin instead (stricter: the whole interval clears the margin).
//   - and there must be at least `minExamples` (5) pairs.
// Otherwise the candidate is rejected with the reason. Same seed and scores -> same decision.
import { bootstrapMeanInterval } from '../util/paired_bootstrap.js';

export { bootstrapMeanInterval };

export interface GuardConfig {
  margin: number;
  confidence: number;
  resamples: number;
  seed: number;
  minExamples: number;
  lowerBoundAboveMargin: boolean;
}
export const DEFAULT_GUARD: GuardConfig = {
  margin: 0,
  confidence: 0.95,
  resamples: 2000,
  seed: 1,
  minExamples: 5,
  lowerBoundAboveMargin: false,
};

export interface GuardDecision {
  promote: boolean;
  reason: string;
  n: number;
  currentMean: number | null;
  candidateMean: number | null;
  meanDiff: number | null;
  interval: { lower: number; upper: number; confidence: number; resamples: number; seed: number } | null;
  margin: number;
}

const mean = (xs: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]!;
  return xs.length ? s / xs.length : NaN;
};

export function decidePromotion(currentScores: number[], candidateScores: number[], config: Partial<GuardConfig> = {}): GuardDecision {
  const c: GuardConfig = { ...DEFAULT_GUARD, ...config };
  const base = { margin: c.margin, n: currentScores.length };
  if (currentScores.length !== candidateScores.length)
    return {
      ...base,
      promote: false,
      reason: `score lists differ in length (${currentScores.length} vs ${candidateScores.length}): not paired`,
      currentMean: null,
      candidateMean: null,
      meanDiff: null,
      interval: null,
    };
  if (currentScores.some((x) => !Number.isFinite(x)) || candidateScores.some((x) => !Number.isFinite(x)))
    return { ...base, promote: false, reason: 'non-finite score', currentMean: null, candidateMean: null, meanDiff: null, interval: null };
  const n = currentScores.length;
  const curMean = n ? mean(currentScores) : null;
  const candMean = n ? mean(candidateScores) : null;
  if (n < c.minExamples)
    return {
      ...base,
      promote: false,
      reason: `only ${n} held-out examples (< ${c.minExamples})`,
      currentMean: curMean,
      candidateMean: candMean,
      meanDiff: n ? candMean! - curMean! : null,
      interval: null,
    };
  const diffs = candidateScores.map((x, i) => x - currentScores[i]!);
  const d = mean(diffs);
  const { lower, upper } = bootstrapMeanInterval(diffs, c.confidence, c.resamples, c.seed);
  const interval = { lower, upper, confidence: c.confidence, resamples: c.resamples, seed: c.seed };
  const bound = c.lowerBoundAboveMargin ? c.margin : 0;
  let reason: string;
  let promote = false;
  if (!(d > c.margin)) reason = `mean improvement ${fmt(d)} is not above the margin ${fmt(c.margin)}`;
  else if (!(lower > bound))
    reason = `${Math.round(c.confidence * 100)}% interval [${fmt(lower)}, ${fmt(upper)}] of the improvement does not clear ${fmt(bound)}`;
  else {
    promote = true;
    reason = `mean improvement ${fmt(d)} > margin ${fmt(c.margin)}, ${Math.round(c.confidence * 100)}% interval [${fmt(lower)}, ${fmt(upper)}] clears ${fmt(bound)}`;
  }
  return { ...base, promote, reason, currentMean: curMean, candidateMean: candMean, meanDiff: d, interval };
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : String(x));
