import type * as z from 'zod';
import { LearningStatusParams, type LearningStatusResult } from '../../protocol/learning.js';
import { defineMethod } from '../registry.js';

/** `learning/status`: what the learner is doing (store, ingestion counters, jobs). Cheap; never opens the store. */
export default defineMethod({
  method: 'learning/status',
  kind: 'request',
  params: LearningStatusParams,
  handler(_params, ctx): z.infer<typeof LearningStatusResult> {
    const { learning } = ctx.services;
    const l = learning.current;
    return {
      enabled: learning.enabled,
      open: l !== undefined,
      dataDir: learning.dir,
      pipelines: Object.keys(learning.pipelines()).sort(),
      schedulerRunning: learning.schedulerRunning,
      wire: { ...learning.wire },
      stats: l ? (JSON.parse(JSON.stringify(l.stats())) as Record<string, unknown>) : null,
    };
  },
});
