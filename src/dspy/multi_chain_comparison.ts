/**
 * MultiChainComparison: DSPy's `dspy.MultiChainComparison`. Given M earlier attempts
 * (completions with a `reasoning` or `rationale` and the last output field), asks the LM to
 * compare them and answer holistically: the signature gets inputs `reasoning_attempt_1..M`
 * ("Student Attempt #i:") and a first output `rationale` ("Accurate Reasoning: Thank you
 * everyone. Let's now holistically"). Sampling temperature 0.7 unless configured.
 */
import { pyStr } from './adapter.js';
import { Example } from './example.js';
import { Module } from './module.js';
import { Completions, type Prediction } from './prediction.js';
import { Predict, type PredictOptions } from './predict.js';
import { Signature } from './signature.js';

/** Predict's options plus DSPy's `M` and `temperature`. */
export interface MultiChainComparisonOptions extends PredictOptions {
  /** Number of attempts compared (DSPy's `M`, default 3). */
  m?: number;
  /** Default 0.7 (DSPy's); `config.temperature` wins. */
  temperature?: number;
}

/** Compares M attempts and answers holistically (DSPy's `dspy.MultiChainComparison`); its predictor is `predict`. */
export class MultiChainComparison extends Module {
  predict: Predict;
  readonly m: number;
  readonly lastKey: string;

  constructor(signature: Signature | string, options: MultiChainComparisonOptions = {}) {
    super();
    const { m = 3, temperature = 0.7, ...predictOptions } = options;
    if (!Number.isInteger(m) || m < 1) throw new RangeError(`MultiChainComparison: m must be a positive integer, got ${String(m)}`);
    this.m = m;
    let sig = typeof signature === 'string' ? Signature.parse(signature) : signature;
    this.lastKey = sig.outputNames[sig.outputNames.length - 1]!;
    for (let i = 1; i <= m; i++) {
      sig = sig.append({ name: `reasoning_attempt_${i}`, role: 'input', prefix: `Student Attempt #${i}:`, description: '${reasoning attempt}' });
    }
    sig = sig.prepend({ name: 'rationale', role: 'output', prefix: "Accurate Reasoning: Thank you everyone. Let's now holistically", description: '${corrected reasoning}' });
    this.predict = new Predict(sig, { ...predictOptions, config: { temperature, ...predictOptions.config } });
  }

  /** `inputs.completions`: the M attempts (records, Predictions or a Completions); the other keys are the signature's inputs. */
  async forward(inputs: Record<string, unknown>): Promise<Prediction> {
    const { completions, ...rest } = inputs;
    const list = completions instanceof Completions ? [...completions] : completions;
    if (!Array.isArray(list)) throw new TypeError('MultiChainComparison: inputs.completions must be a list of attempts');
    const attempts = list.map((c: unknown) => {
      const rec = c instanceof Example ? c.fields() : (c as Record<string, unknown>);
      const rationale = String(rec['rationale'] ?? rec['reasoning'] ?? '').trim().split('\n')[0]!.trim();
      const answer = pyStr(rec[this.lastKey]).trim().split('\n')[0]!.trim();
      return `«I'm trying to ${rationale} I'm not sure but my prediction is ${answer}»`;
    });
    if (attempts.length !== this.m) {
      throw new RangeError(
        `The number of attempts (${attempts.length}) doesn't match the expected number M (${this.m}). Please set the correct value for M when initializing MultiChainComparison.`,
      );
    }
    const args: Record<string, unknown> = {};
    attempts.forEach((a, i) => (args[`reasoning_attempt_${i + 1}`] = a));
    return this.predict.call({ ...args, ...rest });
  }
}
