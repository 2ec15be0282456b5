/** Programs and examples the GEPA suites share (the rules task of bench/support/rules_task.mjs). */
import { Example, Module, Predict, type Prediction } from '../../src/dspy/index.js';
import { ruleText } from '../../bench/support/rules_task.mjs';

/** One example of category c: right only when the prompt states c's rule. */
export const item = (c: number, n: number, extra = '') =>
  new Example({ question: `category ${c}: item ${n}${extra}`, answer: String(n * (c + 2)) }).withInputs('question');

/** The rules of the categories given, as one instruction. */
export const rules = (...cs: number[]) => cs.map(ruleText).join(' ');

/**
 * Two predictors that each answer half the categories: `low` 0 and 1, `high` 2 and 3 (so a
 * merge can combine what two lineages learnt). A question containing `boom` fails before either.
 */
export class Router extends Module {
  low = new Predict('question -> answer');
  high = new Predict('question -> answer');
  constructor(low: string, high: string) {
    super();
    this.low.signature = this.low.signature.withInstructions(low);
    this.high.signature = this.high.signature.withInstructions(high);
  }
  forward(inputs: Record<string, unknown>): Promise<Prediction> {
    const q = String(inputs.question);
    if (q.includes('boom')) throw new Error('exploded before any step');
    const c = Number(/category (\d+)/.exec(q)?.[1]);
    return (c < 2 ? this.low : this.high).call(inputs);
  }
}
