/**
 * ChainOfThought: a Predict whose signature gets a `reasoning` output field first, so the LM
 * reasons before answering. The field is DSPy 3.2+'s: prefix `Reasoning:` and description
 * `${reasoning}`, so a saved program's signature state is the one DSPy 3.2+ writes (DSPy up to
 * 3.1 used the prefix LEGACY_REASONING_PREFIX; loading such a state applies its prefix).
 */
import type { Example } from './example.js';
import { Module } from './module.js';
import type { Prediction } from './prediction.js';
import { Predict, type PredictOptions } from './predict.js';
import { Signature, type FieldInit } from './signature.js';

/** The `reasoning` field's prefix in DSPy 3.2+. */
export const REASONING_PREFIX = 'Reasoning:';
/** The prefix DSPy 2.x-3.1 gave the `reasoning` field. */
export const LEGACY_REASONING_PREFIX = "Reasoning: Let's think step by step in order to";

/** Predict's options, plus a replacement for the `reasoning` field. */
export interface ChainOfThoughtOptions extends PredictOptions {
  /** Replace the default `reasoning` field (name, description, prefix). */
  rationaleField?: FieldInit;
}

/** Predict with a `reasoning` output field first (DSPy's `dspy.ChainOfThought`); its predictor is `predict`. */
export class ChainOfThought extends Module {
  predict: Predict;

  constructor(signature: Signature | string, options: ChainOfThoughtOptions = {}) {
    super();
    const { rationaleField, ...predictOptions } = options;
    const base = typeof signature === 'string' ? Signature.parse(signature) : signature;
    const field: FieldInit = rationaleField ?? { name: 'reasoning', type: 'str', prefix: REASONING_PREFIX, description: '${reasoning}' };
    this.predict = new Predict(base.prepend({ ...field, role: 'output' }), predictOptions);
  }

  /** The extended signature (with `reasoning`). */
  get signature(): Signature {
    return this.predict.signature;
  }

  /** The demos of the inner predictor. */
  get demos(): Example[] {
    return this.predict.demos;
  }

  /** Call the inner predictor. */
  forward(inputs: Record<string, unknown>): Promise<Prediction> {
    return this.predict.call(inputs);
  }
}
