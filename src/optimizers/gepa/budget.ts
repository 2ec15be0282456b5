/**
 * GEPA's budget, counted in metric calls (one metric call = one example scored), as DSPy's
 * `max_metric_calls`. The presets light / medium / heavy are DSPy's way of choosing it
 * (`auto_budget`): the metric calls MIPROv2 would spend with 6 / 12 / 18 candidates on the same
 * program and valset, so the two optimizers can be compared at equal rollouts, as in the paper.
 */
export type GepaPreset = 'light' | 'medium' | 'heavy';

export const GEPA_PRESET_CANDIDATES: Readonly<Record<GepaPreset, number>> = Object.freeze({ light: 6, medium: 12, heavy: 18 });

/**
 * Metric calls for a preset: one full valset pass for the seed candidate, a few bootstrap
 * runs per candidate, a minibatch per trial, and a full valset pass every `fullEvalSteps`
 * trials (plus one at the end when the trials are fewer than that).
 */
export function presetMetricCalls(
  preset: GepaPreset,
  predictors: number,
  valsetSize: number,
  opts: { minibatchSize?: number; fullEvalSteps?: number } = {},
): number {
  const n = GEPA_PRESET_CANDIDATES[preset];
  const minibatch = opts.minibatchSize ?? 35;
  const fullEvalSteps = opts.fullEvalSteps ?? 5;
  const trials = Math.floor(Math.max(2 * (predictors * 2) * Math.log2(n), 1.5 * n));
  let total = valsetSize + n * 5 + trials * minibatch;
  const periodicFulls = Math.floor((trials + 1) / fullEvalSteps) + 1;
  const extraFinal = trials < fullEvalSteps ? 1 : 0;
  total += (periodicFulls + extraFinal) * valsetSize;
  return total;
}

/**
 * What one full round of GEPA costs in metric calls: the seed candidate on the valset, then
 * one reflective iteration (parent and child on a minibatch) whose child is accepted and scored
 * on the valset. A budget below this cannot produce and validate a single new candidate.
 */
export function oneRoundMetricCalls(valsetSize: number, minibatchSize: number): number {
  return valsetSize + 2 * minibatchSize + valsetSize;
}

/** The most reflective iterations a metric-call budget allows (each costs at least 2 minibatches). */
export function maxIterations(budget: number, valsetSize: number, minibatchSize: number): number {
  return Math.max(0, Math.floor((budget - valsetSize) / (2 * minibatchSize)));
}
