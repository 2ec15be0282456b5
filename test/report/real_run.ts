/**
 * A real optimization run for the report suites: GEPA over the rules task (a simulated LM whose
 * accuracy depends on the instruction), the baseline and the best program scored per held-out
 * example, everything recorded by the RunRecorder into a run directory, as a run does.
 */
import { Example, Module, Predict, settings, type Prediction } from '../../src/dspy/index.js';
import { ManagedLM } from '../../src/lm/managed.js';
import { Evaluate, GEPA, type GepaReport } from '../../src/optimizers/index.js';
import { RunRecorder } from '../../src/report/recorder.js';
import { rulesData, rulesMetric, rulesPromptLM, rulesTaskLM } from '../../bench/support/rules_task.mjs';

class Solve extends Module {
  solve = new Predict('question -> answer');
  forward(inputs: Record<string, unknown>): Promise<Prediction> {
    return this.solve.call(inputs);
  }
}

export async function realRun(runDir: string, opts: { maxMetricCalls?: number; seed?: number } = {}): Promise<string> {
  const task = new ManagedLM(rulesTaskLM(), { cache: false });
  const prompt = new ManagedLM(rulesPromptLM(), { cache: false });
  settings.configure({ lm: task });
  const trainset = rulesData(16, { categories: 4 }).map((d) => new Example(d).withInputs('question'));
  const valset = rulesData(12, { categories: 4, offset: 100 }).map((d, i) => new Example({ id: `val-${i}`, ...d }).withInputs('question'));
  const seed = opts.seed ?? 3;
  const options = { maxMetricCalls: opts.maxMetricCalls ?? 200 };
  const recorder = new RunRecorder({
    runId: 'report-test',
    settings: { optimizer: 'GEPA', options, seed, lm: 'simulated:rules-task', metric: 'rules (score + feedback)', pipeline: 'rules' },
  });
  const student = new Solve();
  const r = await new GEPA({ ...options, reflectionLm: prompt }).compile(student, { trainset, valset, metric: rulesMetric, seed, onProgress: recorder.onProgress });
  const evaluate = new Evaluate({ devset: valset, metric: rulesMetric });
  const base = await evaluate.run(student);
  const best = await evaluate.run(r.program);
  const g = r.gepa as GepaReport;
  await recorder.write(runDir, {
    report: r.report,
    heldOut: { examples: valset, baseline: base.results.map((x) => x.score), best: best.results.map((x) => x.score) },
    before: student,
    after: r.program,
    pareto: {
      candidates: g.candidates.map((c) => ({ candidate: c.index, score: c.score, costUsd: c.costUsd, tokens: c.tokens })),
      front: g.front.map((p) => p.candidate),
      selected: g.selected,
      rule: JSON.stringify(g.selection),
    },
  });
  settings.reset();
  return runDir;
}
