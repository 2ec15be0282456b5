import type { Example } from '../dspy/index.js';
import { Rng } from '../util/rng.js';

export const DEFAULT_VAL_FRACTION = 0.25;

/**
 * Seeded split: a quarter (by default) of the examples, at least one, held out for scoring;
 * both parts keep the examples' original order. Fewer than 4 examples: both sets are all of them.
 */
export function splitExamples(
  examples: Example[],
  seed: number,
  valFraction = DEFAULT_VAL_FRACTION,
): { trainset: Example[]; valset: Example[] } {
  if (examples.length < 4) return { trainset: examples, valset: examples };
  const order = new Rng(seed).shuffle(examples.map((_, i) => i));
  const nVal = Math.min(examples.length - 1, Math.max(1, Math.round(examples.length * valFraction)));
  const val = new Set(order.slice(0, nVal));
  return {
    trainset: examples.filter((_, i) => !val.has(i)),
    valset: examples.filter((_, i) => val.has(i)),
  };
}
