import type * as z from 'zod';
import { LearningOptimizeParams, type LearningOptimizeResult } from '../../protocol/learning.js';
import { invalidParams } from '../../rpc/errors.js';
import { defineMethod } from '../registry.js';

/**
 * `learning/optimize {pipeline, mode?}`: "re-optimize now". Processes pending production
 * feedback, then runs what the scheduler runs (optimizer, promotion guard, ledger, promotion +
 * `learning/promoted`) under the pipeline's lock, and answers with the decision. Cancellable;
 * with `progressToken`, the run's progress comes as `$/progress` (same values as `optimize`).
 */
export default defineMethod({
  method: 'learning/optimize',
  kind: 'request',
  params: LearningOptimizeParams,
  async handler(params, ctx): Promise<z.infer<typeof LearningOptimizeResult>> {
    const { learning } = ctx.services;
    if (!learning.pipeline(params.pipeline)) {
      const known = Object.keys(learning.pipelines());
      throw invalidParams([
        {
          path: ['pipeline'],
          message: `not a registered pipeline (initialize options.learning.pipelines); registered: ${known.length ? known.join(', ') : 'none'}`,
        },
      ]);
    }
    const learner = await learning.learner();
    // Telemetry sent before this request counts: make it durable, then harvest it.
    await ctx.services.notificationBarrier();
    await learner.flush();
    await learner.processFeedback();
    const r = await learning.withProgress(params.pipeline, (v) => ctx.progress(v), () =>
      learner.optimizePipeline(params.pipeline, params.mode ?? 'light', { trigger: 'request', signal: ctx.signal }),
    );
    const out: z.infer<typeof LearningOptimizeResult> = {
      pipeline: r.pipeline,
      decision: r.decision,
      reason: r.reason,
      ledgerId: r.ledgerId,
    };
    if (r.guard) out.guard = r.guard;
    if (r.decision === 'promoted') {
      const c = await learner.getCurrentConfig(params.pipeline);
      if (c) out.version = c.version;
    }
    return out;
  },
});
