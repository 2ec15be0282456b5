import { z } from 'zod';
import { JsonObject } from './common.js';

/** Node -> Elixir: run one pipeline_ex workflow for real. */
export const PipelineExecuteParams = z.object({
  config: JsonObject.describe('The workflow map (root key "workflow")'),
  inputs: JsonObject,
  context: z.object({
    runId: z.string().optional(),
    candidateId: z.union([z.string(), z.int()]).optional(),
    exampleId: z.union([z.string(), z.int()]).optional(),
    lm: z.string().optional(),
    rolloutId: z.union([z.string(), z.int()]).optional().describe('Pass to lm/generate: a fresh sample on purpose'),
    temperature: z.number().min(0).optional().describe('Pass to lm/generate options'),
  }),
  timeoutMs: z.int().positive(),
});
export type PipelineExecuteParams = z.infer<typeof PipelineExecuteParams>;

const RunUsage = z.object({
  inputTokens: z.int().nonnegative(),
  outputTokens: z.int().nonnegative(),
  costUsd: z.number().nonnegative(),
});

export const PipelineStepResult = z.object({
  text: z.string().optional(),
  output: z.unknown().optional(),
  success: z.boolean(),
  durationMs: z.number().nonnegative().optional(),
  usage: RunUsage.optional(),
});

export const PipelineExecuteResult = z.object({
  status: z.enum(['ok', 'error']),
  steps: z.record(z.string(), PipelineStepResult),
  output: z.unknown(),
  durationMs: z.number().nonnegative(),
  usage: RunUsage.optional(),
  error: z.string().optional(),
});
export type PipelineExecuteResult = z.infer<typeof PipelineExecuteResult>;
