/**
 * Optimizer names as users write them: the class names, or their snake_case spellings from
 * Elixir options and CLI flags. Which optimizers can estimate a run without spending (dry run).
 */
import { ESTIMATING_OPTIMIZER_NAMES } from '../optimizers/factory.js';

export const DEFAULT_OPTIMIZER = 'BootstrapFewShot';

const OPTIMIZER_ALIASES: Record<string, string> = {
  labeled_few_shot: 'LabeledFewShot',
  labeled_fewshot: 'LabeledFewShot',
  bootstrap_few_shot: 'BootstrapFewShot',
  bootstrap_fewshot: 'BootstrapFewShot',
  random_search: 'BootstrapFewShotWithRandomSearch',
  bootstrap_few_shot_with_random_search: 'BootstrapFewShotWithRandomSearch',
  mipro_v2: 'MIPROv2',
  miprov2: 'MIPROv2',
  gepa: 'GEPA',
};

/** `BootstrapFewShot`, or any of its snake_case spellings, to the optimizer's class name. */
export function canonicalOptimizerName(name: string): string {
  return OPTIMIZER_ALIASES[name.toLowerCase()] ?? name;
}

/** Optimizers whose `dryRun: true` returns an estimate of what the run would spend (those with `estimate()`). */
export const ESTIMATING_OPTIMIZERS: readonly string[] = ESTIMATING_OPTIMIZER_NAMES;

export function canEstimate(name: string): boolean {
  return ESTIMATING_OPTIMIZERS.includes(name);
}
