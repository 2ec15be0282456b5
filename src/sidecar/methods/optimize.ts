import { OptimizeParams, type OptimizeResult } from '../../protocol/run.js';
import { defineMethod } from '../registry.js';
import { sidecarHost } from '../pipeline_run.js';

/**
 * The user's job, whole (src/run/optimize.ts): score the pipeline as written on held-out
 * examples, optimize its LLM steps with every candidate running in Elixir, score the winner the
 * same way, decide whether the lift is real, and write the optimized config when it is.
 */
export default defineMethod({
  method: 'optimize',
  kind: 'request',
  params: OptimizeParams,
  async handler(params, ctx): Promise<OptimizeResult> {
    const { optimizeRun } = await import('../../run/optimize.js');
    return optimizeRun(params, await sidecarHost(ctx, (v) => ctx.progress(v)));
  },
});
