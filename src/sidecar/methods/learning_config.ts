import type * as z from 'zod';
import { LearningConfigParams, type LearningConfigResult } from '../../protocol/learning.js';
import { defineMethod } from '../registry.js';

/**
 * `learning/config {pipeline}`: the current promoted config of a pipeline (what the host app
 * should run), or null when nothing was promoted yet (run the pipeline as written).
 */
export default defineMethod({
  method: 'learning/config',
  kind: 'request',
  params: LearningConfigParams,
  async handler(params, ctx): Promise<z.infer<typeof LearningConfigResult>> {
    const learner = await ctx.services.learning.learner();
    const c = await learner.getCurrentConfig(params.pipeline);
    return c ? { ...c, config: c.config as Record<string, unknown> } : null;
  },
});
