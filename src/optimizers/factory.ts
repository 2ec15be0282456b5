/**
 * Optimizers by name, with zod-validated JSON options: what a wire `optimize` request or a CLI
 * flag names. LM-valued options (MIPROv2's promptModel / taskModel, GEPA's reflection LM) are
 * not JSON: the caller resolves them (e.g. from an LM spec) and passes them in `lms`.
 */
import * as z from 'zod';
import type { LM } from '../lm/types.js';
import { BootstrapFewShot } from './bootstrap_fewshot.js';
import { GEPA } from './gepa.js';
import { LabeledFewShot } from './labeled_fewshot.js';
import { MIPROv2 } from './mipro_v2.js';
import { BootstrapFewShotWithRandomSearch } from './random_search.js';

const count = z.number().int().nonnegative();

const bootstrapShape = {
  metricThreshold: z.number().optional(),
  maxBootstrappedDemos: count.optional(),
  maxLabeledDemos: count.optional(),
  maxRounds: z.number().int().positive().optional(),
  maxErrors: z.number().int().positive().optional(),
};

export const OptimizerOptionSchemas = {
  LabeledFewShot: z.object({ k: count.optional(), sample: z.boolean().optional() }).strict(),
  BootstrapFewShot: z.object(bootstrapShape).strict(),
  BootstrapFewShotWithRandomSearch: z
    .object({
      ...bootstrapShape,
      numCandidatePrograms: count.optional(),
      stopAtScore: z.number().optional(),
      restrict: z.array(z.number().int()).optional(),
      numThreads: z.number().int().positive().optional(),
      minNumSamples: count.optional(),
      labeledSample: z.boolean().optional(),
    })
    .strict(),
  MIPROv2: z
    .object({
      ...bootstrapShape,
      auto: z.enum(['light', 'medium', 'heavy']).nullable().optional(),
      numCandidates: z.number().int().positive().optional(),
      numTrials: z.number().int().positive().optional(),
      minibatch: z.boolean().optional(),
      minibatchSize: z.number().int().positive().optional(),
      minibatchFullEvalSteps: z.number().int().positive().optional(),
      initTemperature: z.number().nonnegative().optional(),
      viewDataBatchSize: z.number().int().positive().optional(),
      dataAware: z.boolean().optional(),
      programAware: z.boolean().optional(),
      tipAware: z.boolean().optional(),
      fewshotAware: z.boolean().optional(),
      nStartupTrials: count.optional(),
      dryRun: z.boolean().optional(),
      callsPerForward: z.number().int().positive().optional(),
    })
    .strict(),
  GEPA: z
    .object({
      auto: z.enum(['light', 'medium', 'heavy']).nullable().optional(),
      maxMetricCalls: z.number().int().positive().optional(),
      maxFullEvals: z.number().int().positive().optional(),
      reflectionMinibatchSize: z.number().int().positive().optional(),
      candidateSelectionStrategy: z.enum(['pareto', 'current_best']).optional(),
      componentSelector: z.enum(['round_robin', 'all']).optional(),
      useMerge: z.boolean().optional(),
      maxMergeInvocations: count.optional(),
      mergeSubsampleSize: z.number().int().positive().optional(),
      skipPerfectScore: z.boolean().optional(),
      perfectScore: z.number().optional(),
      maxInstructionChars: z.number().int().positive().optional(),
      valFraction: z.number().gt(0).lt(1).optional(),
      select: z.union([z.literal('best'), z.object({ cheapestWithin: z.number().nonnegative() }).strict()]).optional(),
      dryRun: z.boolean().optional(),
      callsPerForward: z.number().int().positive().optional(),
    })
    .strict(),
} as const;

export type OptimizerName = keyof typeof OptimizerOptionSchemas;
export const OPTIMIZER_NAMES = Object.keys(OptimizerOptionSchemas) as OptimizerName[];

export type AnyOptimizer = LabeledFewShot | BootstrapFewShot | BootstrapFewShotWithRandomSearch | MIPROv2 | GEPA;

const OPTIMIZER_CLASSES: Record<OptimizerName, { prototype: object }> = {
  LabeledFewShot,
  BootstrapFewShot,
  BootstrapFewShotWithRandomSearch,
  MIPROv2,
  GEPA,
};

/** Optimizers that can say what a run would spend without spending (they have `estimate()`). */
export const ESTIMATING_OPTIMIZER_NAMES: readonly OptimizerName[] = OPTIMIZER_NAMES.filter(
  (n) => typeof (OPTIMIZER_CLASSES[n].prototype as { estimate?: unknown }).estimate === 'function',
);

/** Builds an optimizer from its name and JSON options; throws a ZodError naming the bad field. */
export function createOptimizer(
  name: string,
  options: unknown = {},
  lms: { promptModel?: LM; taskModel?: LM; reflectionModel?: LM } = {},
): AnyOptimizer {
  switch (name) {
    case 'LabeledFewShot':
      return new LabeledFewShot(OptimizerOptionSchemas.LabeledFewShot.parse(options));
    case 'BootstrapFewShot':
      return new BootstrapFewShot(OptimizerOptionSchemas.BootstrapFewShot.parse(options));
    case 'BootstrapFewShotWithRandomSearch':
      return new BootstrapFewShotWithRandomSearch(OptimizerOptionSchemas.BootstrapFewShotWithRandomSearch.parse(options));
    case 'MIPROv2':
      return new MIPROv2({ ...OptimizerOptionSchemas.MIPROv2.parse(options), promptModel: lms.promptModel, taskModel: lms.taskModel });
    case 'GEPA': {
      const o = OptimizerOptionSchemas.GEPA.parse(options);
      const reflectionLm = lms.reflectionModel ?? lms.promptModel;
      return new GEPA({ ...o, ...(reflectionLm ? { reflectionLm } : {}), ...(lms.taskModel ? { taskLm: lms.taskModel } : {}) });
    }
    default:
      throw new Error(`unknown optimizer ${JSON.stringify(name)}; known: ${OPTIMIZER_NAMES.join(', ')}`);
  }
}
