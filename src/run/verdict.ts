/**
 * What a run concluded. The optimized program is compared with the pipeline as written on the
 * same held-out examples: the lift is the difference of their mean scores, and its 95%
 * interval a seeded paired bootstrap over the examples. Only a lift whose interval lies above
 * 0 counts as an improvement; anything else is noise, and no "optimized" config is written
 * unless the caller asks for it anyway.
 */
import type { RunVerdict } from '../protocol/run.js';
import { bootstrapMeanInterval, pairedDiffs } from '../util/paired_bootstrap.js';

export const VERDICT_RESAMPLES = 2000;
export const VERDICT_CONFIDENCE = 0.95;

export interface VerdictInput {
  metric: string;
  /** Per held-out example metric values (0-1 or booleans as 0/1) of the pipeline as written. */
  baseline: readonly number[];
  /** The same for the optimized program; absent when it was not scored (run cut short). */
  best: readonly number[] | undefined;
  baselineScore: number;
  bestScore: number;
  seed: number;
  writeAnyway: boolean;
  /** Why the run was cut short, when it was. */
  cutShortReason?: string | undefined;
  runId: string;
}

const round2 = (x: number) => Math.round(x * 100) / 100;
const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(2)}`;

export function scaleOf(values: readonly number[]): string {
  return values.every((v) => v === 0 || v === 1)
    ? '0-100: percent of held-out examples that pass the metric'
    : '0-100: mean metric score over held-out examples, in percent';
}

export function decideVerdict(v: VerdictInput): RunVerdict {
  const heldOut = v.baseline.length;
  const base = {
    metric: v.metric,
    scale: scaleOf([...v.baseline, ...(v.best ?? [])]),
    heldOut,
    baselineScore: v.baselineScore,
  };
  if (v.best === undefined) {
    const written = v.writeAnyway;
    return {
      ...base,
      bestScore: v.bestScore,
      lift: 0,
      ci95: [0, 0],
      improved: false,
      written,
      reason:
        `the run was cut short (${v.cutShortReason ?? 'stopped'}) before the optimized program was scored on the held-out examples, ` +
        (written ? 'so there is no evidence it is better; written anyway as asked' : `so nothing was written; resume it with runId ${v.runId}`),
    };
  }
  const diffs = pairedDiffs(v.baseline, v.best);
  const { lower, upper } = bootstrapMeanInterval(diffs, VERDICT_CONFIDENCE, VERDICT_RESAMPLES, v.seed);
  const ci95: [number, number] = [round2(100 * lower), round2(100 * upper)];
  const lift = round2(v.bestScore - v.baselineScore);
  const improved = ci95[0] > 0;
  const written = improved || v.writeAnyway;
  const evidence = `lift ${signed(lift)} points, 95% interval [${signed(ci95[0])}, ${signed(ci95[1])}] over ${heldOut} held-out examples`;
  let reason: string;
  if (improved) reason = `${evidence} lies above 0: the optimized pipeline is better, written`;
  else if (written) reason = `${evidence} does not lie above 0, so the gain may be noise; written anyway as asked`;
  else reason = `${evidence} does not lie above 0, so the gain may be noise: nothing written (writeAnyway writes it regardless)`;
  return { ...base, bestScore: v.bestScore, lift, ci95, improved, written, reason };
}
