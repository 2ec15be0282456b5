/** Scoring the pipeline as written on every example, each one executed for real. */
import { runWithMeter } from '../lm/meter.js';
import { Evaluate } from '../optimizers/evaluate.js';
import type { EvaluateParams, EvaluateResult } from '../protocol/run.js';
import { RunFaults } from './faults.js';
import type { RunHost } from './host.js';
import { prepareRun } from './prepare.js';
import { progressSink, usageSummary } from './progress.js';

export async function evaluateRun(params: EvaluateParams, host: RunHost): Promise<EvaluateResult> {
  const run = await prepareRun(params, host);
  const progress = progressSink(host.progress?.bind(host), run.meter);
  const faults = new RunFaults();
  const signal = host.signal ? AbortSignal.any([host.signal, faults.signal]) : faults.signal;
  const body = () =>
    runWithMeter(run.meter, async (): Promise<EvaluateResult> => {
      const r = await new Evaluate({
        devset: run.examples,
        metric: run.metric,
        concurrency: run.concurrency,
        signal,
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
    });
  try {
    return await (host.track ? host.track(run.runId, { meter: run.meter, faults }, body) : body());
  } catch (err) {
    // A provider fault seen by an LM call Elixir made aborts the evaluation: report the fault itself.
    if (faults.fault && !host.signal?.aborted) throw faults.fault;
    throw err;
  }
}
