import { EvaluateParams, type EvaluateResult } from '../../protocol/run.js';
import { defineMethod } from '../registry.js';
import { sidecarHost } from '../pipeline_run.js';

/** Scores the pipeline as written on every example, each one executed for real in Elixir. */
export default defineMethod({
  method: 'evaluate',
  kind: 'request',
  params: EvaluateParams,
  async handler(params, ctx): Promise<EvaluateResult> {
    const { evaluateRun } = await import('../../run/evaluate.js');
    return evaluateRun(params, await sidecarHost(ctx, (v) => ctx.progress(v)));
  },
});
