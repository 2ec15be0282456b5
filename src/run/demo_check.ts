/**
 * No written config teaches a wrong answer: before the optimized program is scored and
 * written, every bootstrapped demo (`augmented: true`, made from a trace of the program) is
 * scored again against the training example it came from, with the run's metric, and dropped
 * unless it passes. A demo of the step whose outputs are the example's expected output is
 * scored directly; the demos of earlier steps made in the same trace go with it.
 * Labeled demos are training examples themselves and are kept.
 */
import { Prediction, type Example, type Metric, type Module } from '../dspy/index.js';
import { metricPasses } from '../optimizers/bootstrap_fewshot.js';
import { expectedOutputOf } from '../pipeline/metrics/fields.js';
import { canonicalJson } from '../util/canonical_json.js';

export interface DemoCheck {
  /** Bootstrapped demos checked / dropped, over all predictors. */
  checked: number;
  dropped: number;
}

/** The training example a demo was made from: the one whose inputs all equal the demo's. */
function sourceOf(demo: Record<string, unknown>, trainset: readonly Example[]): number {
  return trainset.findIndex((e) => {
    const inputs = e.inputs().toDict();
    const keys = Object.keys(inputs).filter((k) => k in demo);
    return keys.length > 0 && keys.every((k) => canonicalJson(inputs[k]) === canonicalJson(demo[k]));
  });
}

/** Mutates `program`'s demos in place; returns what was checked and dropped. */
export async function dropFailingDemos(
  program: Module,
  trainset: readonly Example[],
  metric: Metric,
  threshold: number | undefined,
): Promise<DemoCheck> {
  const predictors = program.namedPredictors();
  // Which source examples pass, judged on the demo of the step that produces the expected output.
  const verdicts = new Map<number, boolean>();
  let checked = 0;
  for (const [, p] of predictors) {
    for (const d of [...p.demos]) {
      const demo = d.toDict();
      if (demo.augmented !== true) continue;
      const i = sourceOf(demo, trainset);
      if (i < 0) continue;
      const example = trainset[i]!;
      const expectedKeys = Object.keys(expectedOutputOf(example));
      if (expectedKeys.length === 0 || !expectedKeys.every((k) => k in demo)) continue; // an earlier step's demo
      const outputs = Object.fromEntries(expectedKeys.map((k) => [k, demo[k]]));
      checked += 1;
      // Shaped as the program's own prediction: the fields, and the final answer they were read from.
      const prediction = Prediction.from({ ...outputs, pipeline_result: { status: 'ok', steps: {}, output: outputs } });
      // With the trace, as when the demo was bootstrapped: a metric may be stricter when tracing.
      const trace = [{ predictor: p, inputs: Object.fromEntries(p.signature.inputNames.map((k) => [k, demo[k]])), outputs }];
      const passes = metricPasses(await metric(example, prediction, trace), threshold);
      verdicts.set(i, (verdicts.get(i) ?? true) && passes);
    }
  }
  let dropped = 0;
  for (const [, p] of predictors) {
    const kept = p.demos.filter((d) => {
      const demo = d.toDict();
      if (demo.augmented !== true) return true;
      // A demo of no training example (-1) has no verdict: kept.
      const ok = verdicts.get(sourceOf(demo, trainset)) !== false;
      if (!ok) dropped += 1;
      return ok;
    });
    p.demos = kept;
  }
  return { checked, dropped };
}
