import * as z from 'zod';
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
  text: z.string().optional().describe('The answer as text (what pipeline_ex keeps in `text`)'),
  output: z.unknown().optional().describe('The answer when it is not text (a parsed JSON value, a data_transform result)'),
  success: z.boolean(),
  skipped: z.boolean().optional().describe('The step did not run (its condition was false); never an output or a demo'),
  reason: z.string().optional().describe('Why it was skipped or failed'),
  metadata: JsonObject.optional().describe('Everything else the engine returned (cost, tokens, session_id, model, ...)'),
  durationMs: z.number().nonnegative().optional(),
  usage: RunUsage.optional(),
});

/**
 * One prompt the engine sent to an LM, in the order sent. `path` is the predictor path:
 * a top-level step's name; `LOOP.steps.INNER` for a step in a for_loop/while_loop/pipeline
 * body (nesting repeats: `a.steps.b.steps.c`); `STEP.tasks[ID]` for a claude_batch task and
 * `STEP.parallel_tasks[ID]` for a parallel_claude task (ID = the task's `id`, else its index).
 */
export const PipelineCall = z.object({
  path: z.string().min(1),
  prompt: z.string().optional().describe('The prompt text as sent, when the executor knows it'),
  text: z.string().optional(),
  output: z.unknown().optional(),
  success: z.boolean(),
  skipped: z.boolean().optional(),
  metadata: JsonObject.optional(),
  usage: RunUsage.optional(),
  iteration: z.int().nonnegative().optional().describe('Loop iteration (0-based) for steps in a loop body'),
});
export type PipelineCall = z.infer<typeof PipelineCall>;

export const PipelineExecuteResult = z.object({
  status: z.enum(['ok', 'error']),
  steps: z.record(z.string(), PipelineStepResult),
  output: z.unknown(),
  durationMs: z.number().nonnegative(),
  usage: RunUsage.optional(),
  externalUsage: RunUsage.optional().describe(
    'Spend the engine made outside the sidecar (pipeline_ex calling its own providers): the sidecar charges it to the run\'s usage and budget. ' +
      'Absent when every LM call went through lm/generate (already counted there).',
  ),
  error: z.string().optional(),
  order: z.array(z.string()).optional().describe('Top-level step names in the order they ran; the output is the last one run'),
  calls: z.array(PipelineCall).optional().describe('Every LM prompt the engine sent, nested steps included, in order'),
});
export type PipelineExecuteResult = z.infer<typeof PipelineExecuteResult>;
