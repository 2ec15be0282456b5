/**
 * What the dry-run estimates (MIPROv2, GEPA) share: the price of a number of calls on an LM
 * that has a price table, and the size of the examples the prompts will carry.
 */
import type { Example } from '../dspy/index.js';
import type { LM } from '../lm/types.js';

type Priced = { prices?: { lookup(model: string): unknown; cost(model: string, u: { inputTokens: number; outputTokens: number }): number } };

/** USD for `calls` calls of `inTok` + `outTok` tokens each; undefined when the LM is not priced. */
export function estimatedCostUsd(lm: LM | undefined, calls: number, inTok: number, outTok: number): number | undefined {
  const table = (lm as Priced | undefined)?.prices;
  if (!lm || !table || !table.lookup(lm.model)) return undefined;
  return table.cost(lm.model, { inputTokens: calls * inTok, outputTokens: calls * outTok });
}

/** Mean JSON length of the examples (200 when there are none): a prompt-size proxy. */
export function meanExampleChars(examples: readonly Example[]): number {
  return examples.length ? examples.reduce((a, e) => a + JSON.stringify(e.toDict()).length, 0) / examples.length : 200;
}
