/** Prediction: the outputs of a module call, an Example of output fields (as in DSPy). */
import { Example } from './example.js';

/**
 * DSPy's `Completions`: the n samples of one call (Predict with `n > 1`). `get(field)` lists a
 * field across samples (DSPy's `completions.answer`); `at(i)` is sample i as a Prediction.
 */
export class Completions {
  readonly items: readonly Prediction[];

  constructor(items: ReadonlyArray<Record<string, unknown> | Example>) {
    if (items.length === 0) throw new Error('Completions: at least one completion is needed');
    this.items = Object.freeze(items.map((o) => (o instanceof Prediction ? o : new Prediction(o))));
  }

  /** Number of samples. */
  get length(): number {
    return this.items.length;
  }

  /** Sample `i` (negative counts from the end). */
  at(i: number): Prediction | undefined {
    return this.items.at(i);
  }

  /** One field across every sample, in sample order. */
  get(field: string): unknown[] {
    return this.items.map((p) => p.get(field));
  }

  /** The samples in order. */
  [Symbol.iterator](): Iterator<Prediction> {
    return this.items[Symbol.iterator]();
  }
}

export class Prediction extends Example {
  /** The samples this prediction is the first of, when its call drew more than one (DSPy's `completions`). */
  completions: Completions | undefined;

  /** A Prediction of these output fields. */
  static from(outputs: Record<string, unknown>): Prediction {
    return new Prediction(outputs);
  }

  /** DSPy's `Prediction.from_completions`: the fields of the first sample, all samples in `completions`. */
  static fromCompletions(completions: ReadonlyArray<Record<string, unknown>>): Prediction {
    const c = new Completions(completions);
    const p = new Prediction(c.items[0]!.fields() as Record<string, unknown>);
    p.completions = c;
    return p;
  }
}
