/**
 * LabeledFewShot (DSPy's `LabeledFewShot(k=16)`): every predictor of a reset copy of the
 * student gets k training examples as demos: a seeded sample (`sample: true`, the default;
 * one draw per predictor from the same stream, as DSPy does) or the first k.
 */
import type { Example, Metric, Module } from '../dspy/index.js';
import { deriveSeed, Rng } from '../util/rng.js';
import { runCompile, type RunOptions } from './run.js';
import type { CompileOptions, CompileResult, Optimizer } from './types.js';

export interface LabeledFewShotOptions {
  k?: number;
  sample?: boolean;
}

/** Sets labeled demos on every predictor of `program` (in place) and returns it. */
export function applyLabeledDemos<M extends Module>(program: M, trainset: readonly Example[], k: number, sample: boolean, rng: Rng): M {
  if (trainset.length === 0) return program;
  const n = Math.min(k, trainset.length);
  for (const p of program.predictors()) {
    p.demos = sample ? rng.sample(trainset, n) : trainset.slice(0, n);
  }
  return program;
}

export class LabeledFewShot implements Optimizer {
  readonly name = 'LabeledFewShot';
  readonly k: number;
  readonly sample: boolean;

  constructor(opts: LabeledFewShotOptions = {}) {
    this.k = opts.k ?? 16;
    this.sample = opts.sample ?? true;
  }

  /** The metric is not used (LabeledFewShot makes no LM calls) and may be omitted. */
  async compile<M extends Module>(
    student: M,
    opts: Omit<CompileOptions, 'metric'> & { metric?: Metric } & RunOptions,
  ): Promise<CompileResult<M>> {
    const seed = opts.seed ?? 0;
    const full = { ...opts, metric: opts.metric ?? (() => 0) } as CompileOptions & RunOptions;
    const { runDir: _ignored, ...noJournal } = full; // nothing to resume: no LM calls
    return runCompile(
      // Stryker disable next-line ObjectLiteral: the config only keys a journal, and this run has none
      { optimizer: this.name, opts: noJournal, config: { k: this.k, sample: this.sample } },
      async () => applyLabeledDemos(student.resetCopy() as M, opts.trainset, this.k, this.sample, new Rng(deriveSeed(seed, 'labeled'))),
      // Stryker disable next-line ArrowFunction: the fallback of a stopped run; this body makes no LM call and cannot be stopped
      () => student.resetCopy() as M,
    );
  }
}
