/**
 * `run.json`: what a finished (or cut-short) optimization run leaves in its run directory for
 * people to look at: its settings, every trial, the LM spend over time by phase, per-example
 * scores of the baseline and the best program, each predictor before and after, and the
 * quality/cost front when the optimizer has one. The HTML report is drawn from it; it is read
 * back through this schema (disk is a boundary), so a report never draws half-understood data.
 */
import * as z from 'zod';

export const RUN_RECORD_FILE = 'run.json';
export const RUN_RECORD_FORMAT = 1;

const Demo = z.record(z.string(), z.unknown());

export const PredictorChange = z.object({
  path: z.string(),
  before: z.object({ instructions: z.string(), demos: z.array(Demo) }),
  after: z.object({ instructions: z.string(), demos: z.array(Demo) }),
});
export type PredictorChange = z.infer<typeof PredictorChange>;

export const TimelinePoint = z.object({
  /** Milliseconds since the run started. */
  t: z.number().nonnegative(),
  phase: z.string(),
  calls: z.number().nonnegative(),
  costUsd: z.number().nonnegative(),
  tokens: z.number().nonnegative().optional(),
});
export type TimelinePoint = z.infer<typeof TimelinePoint>;

export const RunRecord = z.object({
  format: z.literal(RUN_RECORD_FORMAT),
  runId: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  settings: z.object({
    optimizer: z.string(),
    options: z.record(z.string(), z.unknown()).default({}),
    seed: z.number().optional(),
    lm: z.string().optional(),
    metric: z.string().optional(),
    budget: z.record(z.string(), z.unknown()).optional(),
    pipeline: z.string().optional(),
  }),
  cutShort: z.boolean().default(false),
  cutShortReason: z.string().optional(),
  resumed: z.object({ done: z.number(), total: z.number() }).optional(),
  verdict: z
    .object({
      metric: z.string(),
      scale: z.string(),
      heldOut: z.number(),
      baselineScore: z.number(),
      bestScore: z.number(),
      lift: z.number(),
      ci95: z.tuple([z.number(), z.number()]),
      improved: z.boolean(),
      written: z.boolean(),
      reason: z.string(),
    })
    .optional(),
  baselineScore: z.number().optional(),
  bestScore: z.number().optional(),
  trials: z.array(
    z
      .object({ trial: z.number(), kind: z.string(), score: z.number(), size: z.number().optional(), resumed: z.boolean().optional() })
      .passthrough(),
  ),
  timeline: z.array(TimelinePoint).default([]),
  /** Held-out examples: the score of the program as written and of the best one (metric values). */
  examples: z
    .array(z.object({ id: z.union([z.string(), z.number()]), baseline: z.number(), best: z.number(), input: z.unknown().optional() }))
    .default([]),
  predictors: z.array(PredictorChange).default([]),
  pareto: z
    .object({
      candidates: z.array(z.object({ candidate: z.number(), score: z.number(), costUsd: z.number(), tokens: z.number() })),
      front: z.array(z.number()),
      selected: z.number(),
      rule: z.string(),
    })
    .optional(),
  usage: z
    .object({
      calls: z.number(),
      cacheHits: z.number(),
      inputTokens: z.number(),
      outputTokens: z.number(),
      costUsd: z.number(),
      sent: z.number().optional(),
      aborted: z.number().optional(),
    })
    .optional(),
});
export type RunRecord = z.infer<typeof RunRecord>;
export type RunRecordInput = z.input<typeof RunRecord>;
