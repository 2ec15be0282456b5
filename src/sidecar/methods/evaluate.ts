import { EvaluateParams, type EvaluateResult } from '../../protocol/run.js';
import { prepareRun, progressSink, usageSummary } from '../pipeline_run.js';
import { defineMethod } from '../registry.js';

/** Scores the pipeline as written on every example, each one executed for real in Elixir. */
export default defineMethod({
  method: 'evaluate',
  kind: 'request',
  params: EvaluateParams,
  async handler(params, ctx): Promise<EvaluateResult> {
    const [{ Evaluate }, { runWithMeter }] = await Promise.all([
      import('../../optimizers/evaluate.js'),
      import('../../lm/meter.js'),
    ]);
    const run = await prepareRun(params, ctx);
    const progress = progressSink(ctx, run.meter);
    return ctx.services.runs.with(run.runId, run.meter, () =>
      runWithMeter(run.meter, async () => {
        const r = await new Evaluate({
          devset: run.examples,
          metric: run.metric,
          concurrency: run.concurrency,
          signal: ctx.signal,
          onProgress: (e) => progress({ ...e, phase: 'evaluate' }),
        }).run(run.program);
        return {
          score: r.score,
          results: r.results.map((item) => ({
            exampleId: run.ids.get(item.example) ?? item.index,
            score: item.score,
            ...(item.error ? { error: item.error } : {}),
          })),
          usage: usageSummary(run.meter),
        };
      }),
    );
  },
});
