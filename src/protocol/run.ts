import * as z from 'zod';
import { BudgetLimits, JsonObject, ProgressToken, UsageSummary } from './common.js';

/** A pipeline_ex workflow: a YAML file path, or the parsed config map itself. */
export const PipelineRef = z.union([
  z.object({ path: z.string().min(1) }),
  z.object({ config: JsonObject }),
]);

export const TrainingExample = z.object({
  id: z.union([z.string(), z.int()]).optional(),
  input: JsonObject,
  expected_output: JsonObject,
  metadata: JsonObject.optional(),
});
export type TrainingExample = z.infer<typeof TrainingExample>;

/** Training data: a directory of example files, or inline examples. */
export const TrainingDataRef = z.union([
  z.object({ dir: z.string().min(1) }),
  z.object({ examples: z.array(TrainingExample) }),
]);

export const NamedComponent = z.object({ name: z.string().min(1), options: JsonObject.optional() });

const runParamsShape = {
  pipeline: PipelineRef,
  trainingData: TrainingDataRef,
  optimizer: NamedComponent.optional(),
  metric: NamedComponent.optional(),
  lm: z.string().optional().describe('LM spec, e.g. "anthropic:claude-sonnet-4-5", "offline"'),
  budget: BudgetLimits.optional(),
  seed: z.int().optional(),
  outDir: z.string().optional(),
  runId: z.string().optional(),
  concurrency: z.int().positive().optional(),
  progressToken: ProgressToken.optional(),
  valFraction: z
    .number()
    .gt(0)
    .lt(1)
    .optional()
    .describe('Share of the examples held out as the valset (seeded split; default 0.25)'),
  steps: z.array(z.string().min(1)).optional().describe('Steps to optimize; default every LLM step'),
  signatures: z
    .record(
      z.string().min(1),
      z.union([
        z.string().min(1),
        z.object({
          inputs: z.array(z.string().min(1)).optional(),
          outputs: z.array(z.string().min(1)).optional(),
          instructions: z.string().optional(),
        }),
      ]),
    )
    .optional()
    .describe('Per-step signature overrides by step name: a DSPy signature string ("code, goal -> plan: list[str]") or {inputs, outputs, instructions}'),
  name: z.string().min(1).optional().describe('Output name; default the workflow name'),
  report: z.boolean().optional().describe('Write run.json and the HTML report into the run directory (default true)'),
  executionTimeoutMs: z.int().positive().optional().describe('Per pipeline/execute call; default 120000'),
};

export const OptimizeParams = z.object({
  ...runParamsShape,
  reflectionLm: z
    .string()
    .min(1)
    .optional()
    .describe('GEPA: LM spec of the reflection LM, which reads executions and feedback and proposes new instructions; default the run\'s `lm`'),
  writeAnyway: z
    .boolean()
    .optional()
    .describe('Write the optimized config and program even when the verdict finds no lift above noise (default false)'),
});
export type OptimizeParams = z.infer<typeof OptimizeParams>;

export const EvaluateParams = z.object(runParamsShape);
export type EvaluateParams = z.infer<typeof EvaluateParams>;

export const TrialRecord = z
  .record(z.string(), z.unknown())
  .describe('One optimizer trial (fields depend on the optimizer; typically trial, score, candidate)');

/** What a run concluded, in words and numbers a user can check (scores are 0-100). */
export const RunVerdict = z.object({
  metric: z.string().describe('The metric that scored the run'),
  scale: z.string().describe('What the scores mean, e.g. "0-100: mean metric score in percent"'),
  heldOut: z.int().nonnegative().describe('Held-out examples each score was measured on'),
  baselineScore: z.number(),
  bestScore: z.number(),
  lift: z.number().describe('bestScore - baselineScore, in points'),
  ci95: z.tuple([z.number(), z.number()]).describe('95% paired-bootstrap interval of the lift over held-out examples'),
  improved: z.boolean().describe('The lift is above noise: ci95[0] > 0'),
  written: z.boolean().describe('An optimized config and program were written'),
  reason: z.string().describe('One sentence for humans: why it was or was not written'),
});
export type RunVerdict = z.infer<typeof RunVerdict>;

/** A GEPA candidate: its instructions' mean held-out score and what one execution of it costs. */
export const ParetoCandidate = z.object({
  candidate: z.int().nonnegative().describe('Index in the candidate pool (0: the pipeline as written)'),
  score: z.number().describe('Mean validation score, 0-100'),
  costUsd: z.number().nonnegative().describe('USD per execution (0 when the LM is not priced)'),
  tokens: z.number().nonnegative().describe('Tokens (input + output) per execution'),
});

/** GEPA's quality/cost Pareto front and the candidate the run chose from it. */
export const ParetoReport = z.object({
  candidates: z
    .array(
      ParetoCandidate.extend({
        parents: z.array(z.int().nonnegative()),
        origin: z.enum(['seed', 'reflection', 'merge']),
        iteration: z.int().nonnegative(),
        latencyMs: z.number().nonnegative(),
      }),
    )
    .describe('Every candidate GEPA accepted, in the order found'),
  front: z.array(ParetoCandidate).describe('Candidates no other beats on score without costing more, cheapest first'),
  selected: z.int().nonnegative().describe('The candidate the optimized program is'),
  rule: z.string().describe('The selection rule in words: "best score", or "cheapest within N points of the best"'),
  selection: z.union([z.literal('best'), z.object({ cheapestWithin: z.number().nonnegative() })]),
  metricCalls: z.object({ used: z.int().nonnegative(), max: z.int().nonnegative() }).describe('GEPA\'s budget: examples scored'),
  iterations: z.int().nonnegative(),
  accepted: z.int().nonnegative().describe('New candidates accepted (0: the program is the one you wrote)'),
  warnings: z.array(z.string()),
});
export type ParetoReport = z.infer<typeof ParetoReport>;

export const OptimizeRunResult = z.object({
  runId: z.string(),
  baselineScore: z.number(),
  bestScore: z.number(),
  optimizedConfig: JsonObject,
  optimizedYamlPath: z.string().optional(),
  programPath: z.string().optional(),
  program: JsonObject.describe('The saved program (DSPy-shaped JSON)'),
  trials: z.array(TrialRecord),
  usage: UsageSummary,
  cutShort: z.boolean(),
  cutShortReason: z.string().optional(),
  verdict: RunVerdict.optional(),
  reportPath: z.string().optional().describe('The self-contained HTML report of the run (in its run directory)'),
  resumed: z
    .object({ done: z.int().nonnegative(), total: z.int().nonnegative() })
    .optional()
    .describe('Present when the run resumed a journal: units of work found done, of the total'),
  pareto: ParetoReport.optional().describe('GEPA runs: the quality/cost Pareto front of its candidates and the one selected'),
});
export type OptimizeRunResult = z.infer<typeof OptimizeRunResult>;

/** What a dry run (`optimizer.options.dryRun: true`; MIPROv2, GEPA) would spend; nothing was spent. */
export const OptimizeDryRunResult = z.object({
  runId: z.string(),
  dryRun: z.literal(true),
  estimate: z.object({
    calls: z.object({
      baseline: z.int().nonnegative().describe('Scoring the pipeline as written'),
      optimizer: z.object({ expected: z.int().nonnegative(), max: z.int().nonnegative() }),
      final: z.int().nonnegative().describe('Scoring the winner'),
      total: z.object({ expected: z.int().nonnegative(), max: z.int().nonnegative() }),
    }),
    tokens: z.object({ input: z.int().nonnegative(), output: z.int().nonnegative() }).describe('Optimizer part; rough (characters / 4)'),
    costUsd: z
      .object({ expected: z.number().nonnegative(), max: z.number().nonnegative() })
      .optional()
      .describe('Optimizer part; absent when the LM is not priced'),
    summary: z.string(),
  }),
});
export type OptimizeDryRunResult = z.infer<typeof OptimizeDryRunResult>;

export const OptimizeResult = z.union([OptimizeRunResult, OptimizeDryRunResult]);
export type OptimizeResult = z.infer<typeof OptimizeResult>;

export const EvaluateResult = z.object({
  score: z.number(),
  results: z.array(
    z.object({
      exampleId: z.union([z.string(), z.int()]),
      score: z.number(),
      error: z.string().optional(),
    }),
  ),
  usage: UsageSummary,
});
export type EvaluateResult = z.infer<typeof EvaluateResult>;

/** The `value` of `$/progress` for optimize and evaluate. */
export const RunProgress = z.object({
  phase: z.string(),
  trial: z.int().optional(),
  totalTrials: z.int().optional(),
  score: z.number().optional(),
  bestScore: z.number().optional(),
  calls: z.int().nonnegative(),
  costUsd: z.number().nonnegative(),
  message: z.string().optional(),
});
export type RunProgress = z.infer<typeof RunProgress>;
