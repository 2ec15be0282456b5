/**
 * Turning a run's params into what it works on, with no LM call: the pipeline and its program
 * (the student: the pipeline as written, its LLM steps as predictors), the training examples
 * and their seeded train / held-out split, the metric, the meter that counts and caps every
 * LM call of the run, and where its outputs and journal go.
 */
import { randomBytes } from 'node:crypto';
import type { Example, Metric } from '../dspy/index.js';
import { Meter } from '../lm/meter.js';
import type { LM } from '../lm/types.js';
import {
  getMetric,
  loadPipelineSource,
  PipelineProgram,
  withConcurrencyLimit,
} from '../pipeline/index.js';
import type { PipelineConfig } from '../pipeline/schema.js';
import { examplesFromInline, toExample, TrainingDataManager } from '../pipeline/training_data.js';
import type { EvaluateParams, OptimizeParams } from '../protocol/run.js';
import { RunInputError, RunParamsError } from './errors.js';
import type { RunHost } from './host.js';
import { splitExamples } from './split.js';
import { checkBudget, checkRunId, resolveOutDir, runDirOf } from './validate.js';

export const DEFAULT_EXECUTION_TIMEOUT_MS = 120_000;
export const DEFAULT_CONCURRENCY = 8;
export const DEFAULT_METRIC = 'exact_match';

export type RunParams = OptimizeParams | EvaluateParams;

export interface MetricSpec {
  name: string;
  options?: Record<string, unknown>;
}

export interface PreparedRun {
  runId: string;
  /** Output name (files under outDir are named after it). */
  name: string;
  config: PipelineConfig;
  examples: Example[];
  /** Each example's training-data id (inline examples without one: their position). */
  ids: Map<Example, string | number>;
  trainset: Example[];
  valset: Example[];
  metricSpec: MetricSpec;
  metric: Metric;
  /** The student: the pipeline as written, its steps as predictors. */
  program: PipelineProgram;
  lmSpec: string;
  lm: LM;
  /** The reflection LM an `optimize` request named (`reflectionLm`); absent: the run's `lm`. */
  reflectionLm?: LM;
  outDir: string;
  /** The run's journal directory: the same run id resumes from it. */
  runDir: string;
  meter: Meter;
  seed: number;
  concurrency: number;
}

export function newRunId(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  return `run-${stamp}-${randomBytes(3).toString('hex')}`;
}

/** The metric: the request's, else the workflow's own `dspy.metric`, else exact match. */
export function metricSpecOf(params: Pick<RunParams, 'metric'>, config: PipelineConfig): MetricSpec {
  if (params.metric) return params.metric;
  const fromConfig = (config.workflow as Record<string, unknown>).dspy as { metric?: unknown } | undefined;
  const m = fromConfig?.metric;
  if (typeof m === 'string') return { name: m };
  if (m && typeof m === 'object' && typeof (m as { name?: unknown }).name === 'string') return m as MetricSpec;
  return { name: DEFAULT_METRIC };
}

export async function prepareRun(params: RunParams, host: RunHost): Promise<PreparedRun> {
  const runId = checkRunId(params.runId ?? newRunId());
  const seed = params.seed ?? 0;
  const concurrency = params.concurrency ?? DEFAULT_CONCURRENCY;
  const lmSpec = params.lm ?? host.defaultLM;
  const lm = host.lms.get(lmSpec); // validates the spec before any work
  checkBudget(params.budget, lm);
  const reflectionSpec = 'reflectionLm' in params ? params.reflectionLm : undefined;
  const reflectionLm = reflectionSpec !== undefined ? reflectionLmOf(reflectionSpec, host) : undefined;
  if (reflectionLm) checkBudget(params.budget, reflectionLm);

  const config = await loadPipelineSource(params.pipeline);
  const { examples, ids } = await loadExamplesWithIds(params.trainingData);
  if (examples.length === 0) throw new RunInputError('trainingData', 'the training data holds no examples');
  const { trainset, valset } = splitExamples(examples, seed, params.valFraction);
  const metricSpec = metricSpecOf(params, config);
  const metric = getMetric(metricSpec.name, metricSpec.options ?? {}, {
    lm,
    resolveLM: (spec) => host.lms.get(spec),
    ...(host.logger ? { logger: host.logger } : {}),
  });

  const timeoutMs = params.executionTimeoutMs ?? DEFAULT_EXECUTION_TIMEOUT_MS;
  const executor = withConcurrencyLimit(host.executorFor({ runId, lmSpec, timeoutMs }), concurrency);
  const program = new PipelineProgram(config, {
    executor,
    trainset: examples,
    runId,
    ...(params.steps ? { steps: params.steps } : {}),
    ...(params.signatures ? { signatures: params.signatures } : {}),
  });

  const outDir = resolveOutDir(params.outDir, host.cwd ?? process.cwd());
  return {
    runId,
    name: params.name ?? config.workflow.name,
    config,
    examples,
    ids,
    trainset,
    valset,
    metricSpec,
    metric,
    program,
    lmSpec,
    lm,
    ...(reflectionLm ? { reflectionLm } : {}),
    outDir,
    runDir: runDirOf(outDir, runId),
    meter: new Meter(params.budget ? { budget: params.budget } : {}),
    seed,
    concurrency,
  };
}

/** The reflection LM of a spec; a bad spec is reported under `reflectionLm`, not `lm`. */
function reflectionLmOf(spec: string, host: RunHost): LM {
  try {
    return host.lms.get(spec);
  } catch (err) {
    throw new RunParamsError([{ path: ['reflectionLm'], message: (err as Error).message }]);
  }
}

/** Examples in their stable order, with the ids results are reported under. */
async function loadExamplesWithIds(
  source: RunParams['trainingData'],
): Promise<{ examples: Example[]; ids: Map<Example, string | number> }> {
  const ids = new Map<Example, string | number>();
  if ('dir' in source) {
    const records = await new TrainingDataManager(source.dir).listExamples();
    const examples = records.map((r) => {
      const ex = toExample(r);
      ids.set(ex, r.id);
      return ex;
    });
    return { examples, ids };
  }
  const examples = examplesFromInline(source.examples, 'trainingData.examples');
  examples.forEach((ex, i) => ids.set(ex, source.examples[i]?.id ?? i));
  return { examples, ids };
}
