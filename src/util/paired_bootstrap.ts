/**
 * Seeded paired-bootstrap percentile interval of a mean: resample the per-example differences
 * (candidate_i - baseline_i on the same examples) with replacement, take the mean of each
 * resample, read the interval off the sorted means by nearest rank. Same seed and inputs, same
 * interval. Used by the promotion guard and by an optimization run's verdict.
 */
import { nearestRankIndex } from './percentile.js';
import { Rng } from './rng.js';

export interface MeanInterval {
  lower: number;
  upper: number;
}

export function bootstrapMeanInterval(diffs: ArrayLike<number>, confidence: number, resamples: number, seed: number): MeanInterval {
  const n = diffs.length;
  if (n === 0) return { lower: NaN, upper: NaN };
  const rng = new Rng(seed);
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let k = 0; k < n; k++) s += diffs[rng.int(n)]!;
    means[r] = s / n;
  }
  means.sort();
  const alpha = (1 - confidence) / 2;
  return {
    lower: means[nearestRankIndex(alpha * 100, resamples)]!,
    upper: means[nearestRankIndex((1 - alpha) * 100, resamples)]!,
  };
}

/** Differences of paired scores (`after_i - before_i`); the lists must have the same length. */
export function pairedDiffs(before: readonly number[], after: readonly number[]): number[] {
  if (before.length !== after.length) throw new Error(`paired scores differ in length (${before.length} vs ${after.length})`);
  return after.map((x, i) => x - before[i]!);
}
