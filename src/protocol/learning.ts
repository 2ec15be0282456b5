import * as z from 'zod';
import { JsonObject, ProgressToken } from './common.js';
import { NamedComponent } from './run.js';

/** One pipeline the learner knows: what the scheduled and requested re-optimizations run. */
export const LearningPipeline = z.object({
  path: z.string().min(1).describe('pipeline_ex YAML (or JSON) file; relative to the sidecar working directory'),
  trainingData: z
    .string()
    .min(1)
    .optional()
    .describe('Directory of curated training examples (read only); production examples are kept apart, under DATA_DIR/learning/training_data/'),
  metric: NamedComponent.optional().describe("Default: the workflow's own dspy.metric, else exact_match"),
  optimizer: NamedComponent.optional().describe('Default: BootstrapFewShot for light runs, MIPROv2 {auto: "light"} for full runs'),
  lm: z.string().optional().describe('LM spec of the runs; default options.learning.lm, else the sidecar default'),
  seed: z.int().optional().describe('Seed of the split, the optimizer and the guard (default 0)'),
  valFraction: z.number().gt(0).lt(1).optional().describe('Share held out for the promotion guard (default 0.25)'),
  budget: z
    .object({
      maxCalls: z.int().nonnegative().optional(),
      maxTokens: z.int().nonnegative().optional(),
      maxUsd: z.number().nonnegative().optional(),
      maxWallMs: z.int().nonnegative().optional(),
    })
    .optional(),
  concurrency: z.int().positive().optional(),
  executionTimeoutMs: z.int().positive().optional(),
});
export type LearningPipeline = z.infer<typeof LearningPipeline>;

const CronOrOff = z.union([z.string().min(1), z.null()]);

export const LearningOptions = z.object({
  enabled: z.boolean().optional().describe('Default true'),
  pipelines: z
    .record(z.string().min(1), LearningPipeline)
    .optional()
    .describe('Pipelines by name (the name telemetry reports in metadata.pipeline)'),
  schedule: z
    .object({
      timeZone: z.string().min(1).optional().describe('IANA zone of the cron expressions (default UTC)'),
      daily: CronOrOff.optional().describe('Light optimization of underperforming pipelines; default "0 2 * * *"; null: off'),
      weekly: CronOrOff.optional().describe('Full re-optimization; default "0 3 * * 0"; null: off'),
      feedback: CronOrOff.optional().describe('Production executions -> training examples; default "*/10 * * * *"; null: off'),
    })
    .optional(),
  policy: z
    .object({
      baselineSuccessRate: z.number().min(0).max(1).optional(),
      minNewExamples: z.int().nonnegative().optional(),
    })
    .optional(),
  guard: z
    .object({
      margin: z.number().optional(),
      confidence: z.number().gt(0).lt(1).optional(),
      resamples: z.int().positive().optional(),
      seed: z.int().optional(),
      minExamples: z.int().positive().optional(),
    })
    .optional(),
  exampleThreshold: z.number().optional().describe('Quality at which a production execution becomes an example (default 8.0)'),
  lm: z.string().optional().describe('Default LM spec of the learning runs'),
});
export type LearningOptions = z.infer<typeof LearningOptions>;

/** `initialize.params.options`: open for future option groups. */
export const InitializeOptions = z.looseObject({ learning: LearningOptions.optional() });

export const LearningConfigParams = z.object({ pipeline: z.string().min(1) });
export const LearningCurrentConfig = z.object({
  pipeline: z.string(),
  version: z.int().positive().describe('1 for the first promoted config, +1 per promotion'),
  promotedAt: z.string().describe('ISO 8601'),
  ledgerId: z.string().nullable().describe('The run ledger entry that promoted it'),
  config: JsonObject.describe('The pipeline_ex workflow map in force'),
});
export const LearningConfigResult = LearningCurrentConfig.nullable().describe('null: nothing promoted yet (use the pipeline as written)');

export const GuardSummary = z.object({
  promote: z.boolean(),
  reason: z.string(),
  n: z.int().nonnegative().describe('Held-out examples both configs were scored on'),
  currentMean: z.number().nullable(),
  candidateMean: z.number().nullable(),
  meanDiff: z.number().nullable(),
  interval: z
    .object({ lower: z.number(), upper: z.number(), confidence: z.number(), resamples: z.int(), seed: z.int() })
    .nullable()
    .describe('Paired-bootstrap interval of the mean improvement'),
  margin: z.number(),
});

export const LearningOptimizeParams = z.object({
  pipeline: z.string().min(1),
  mode: z.enum(['light', 'full']).optional().describe('light (default): BootstrapFewShot; full: MIPROv2 auto light'),
  progressToken: ProgressToken.optional(),
});
export const LearningOptimizeResult = z.object({
  pipeline: z.string(),
  decision: z.enum(['promoted', 'rejected', 'skipped', 'failed']),
  reason: z.string(),
  ledgerId: z.string(),
  guard: GuardSummary.optional(),
  version: z.int().positive().optional().describe('The new current version, when promoted'),
});

/** Node -> Elixir: a re-optimized config was promoted (durable before this is sent). */
export const LearningPromotedParams = z.object({
  pipeline: z.string(),
  version: z.int().positive(),
  config: JsonObject,
  decision: GuardSummary,
  ledgerId: z.string(),
  promotedAt: z.string(),
});

export const LearningStatusParams = z.object({});
export const LearningStatusResult = z.object({
  enabled: z.boolean(),
  open: z.boolean().describe('false until the first telemetry/learning request opened the store'),
  dataDir: z.string(),
  pipelines: z.array(z.string()),
  schedulerRunning: z.boolean(),
  wire: z.object({
    batches: z.int().nonnegative(),
    invalidBatches: z.int().nonnegative(),
    droppedWhileDisabled: z.int().nonnegative(),
    shedWhileOpening: z.int().nonnegative().describe('Events shed while the store was opening (more than 100,000 waiting)'),
  }),
  stats: z.record(z.string(), z.unknown()).nullable().describe('store, ingest, jobs, optimizing (null when not open)'),
});
