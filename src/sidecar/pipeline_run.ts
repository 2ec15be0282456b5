/**
 * What `optimize` and `evaluate` share: turning wire params into a pipeline program whose
 * candidates run in Elixir through `pipeline/execute`, a seeded train/val split, a metric, and
 * a meter that counts (and caps) every LM call of the run, including the ones Elixir makes
 * through `lm/generate` on its behalf (attributed by run id).
 *
 * The optimizer, pipeline and LM modules are imported lazily by the handlers that need them,
 * so a sidecar that only answers `ping` never loads them (cold start is measured).
 */
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { Example, Metric } from '../dspy/index.js';
import type { Meter } from '../lm/meter.js';
import type { ExecuteContext, PipelineExecutor, PipelineProgram } from '../pipeline/index.js';
import type { PipelineConfig } from '../pipeline/schema.js';
import type { EvaluateParams, OptimizeParams, RunProgress } from '../protocol/run.js';
import type { UsageSummary } from '../protocol/common.js';
import { ErrorCode, RpcError } from '../rpc/errors.js';
import type { MethodContext } from './registry.js';

export const DEFAULT_EXECUTION_TIMEOUT_MS = 120_000;
export const DEFAULT_VAL_FRACTION = 0.25;
export const DEFAULT_CONCURRENCY = 8;
export const DEFAULT_METRIC = 'exact_match';

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
  metric: Metric;
  /** The student: the pipeline as written, its steps as predictors. */
  program: PipelineProgram;
  lmSpec: string;
  outDir: string;
  /** The run's journal directory: the same run id resumes from it. */
  runDir: string;
  meter: Meter;
  seed: number;
  concurrency: number;
}

type RunParams = OptimizeParams | EvaluateParams;

/**
 * What a run needs from its surroundings: a request's MethodContext is one; the learner's
 * scheduled runs, which belong to no request, build one from the services (learning_runner.ts).
 */
export type RunEnv = Pick<MethodContext, 'services' | 'peer' | 'signal' | 'logger'>;

export function newRunId(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  return `run-${stamp}-${randomBytes(3).toString('hex')}`;
}

/** A run id becomes a directory name: keep it to a safe alphabet. */
function checkRunId(runId: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(runId)) {
    throw new RpcError(ErrorCode.InvalidParams, 'runId must be 1-128 characters of [A-Za-z0-9._-]', {
      issues: [{ path: ['runId'], message: 'unsafe run id' }],
    });
  }
  return runId;
}

/**
 * Seeded split: a quarter (by default) of the examples, at least one, held out for scoring;
 * both parts keep the examples' original order. Fewer than 4 examples: both sets are all of them.
 */
export async function splitExamples(
  examples: Example[],
  seed: number,
  valFraction = DEFAULT_VAL_FRACTION,
): Promise<{ trainset: Example[]; valset: Example[] }> {
  if (examples.length < 4) return { trainset: examples, valset: examples };
  const { Rng } = await import('../util/rng.js');
  const order = new Rng(seed).shuffle(examples.map((_, i) => i));
  const nVal = Math.min(examples.length - 1, Math.max(1, Math.round(examples.length * valFraction)));
  const val = new Set(order.slice(0, nVal));
  return {
    trainset: examples.filter((_, i) => !val.has(i)),
    valset: examples.filter((_, i) => val.has(i)),
  };
}

/** Each candidate x example runs in Elixir; the run's LM and fresh-sample hints ride along. */
export function peerExecutor(
  ctx: Pick<RunEnv, 'peer' | 'signal'>,
  run: { runId: string; lmSpec: string; timeoutMs: number },
): PipelineExecutor {
  return async (config, inputs, c: ExecuteContext) => {
    const context: Record<string, unknown> = { runId: run.runId, candidateId: c.candidateId, lm: run.lmSpec };
    if (c.exampleId !== undefined) context.exampleId = c.exampleId;
    if (c.rolloutId !== undefined) context.rolloutId = c.rolloutId;
    if (c.temperature !== undefined) context.temperature = c.temperature;
    const signal = c.signal ? AbortSignal.any([c.signal, ctx.signal]) : ctx.signal;
    const { validateExecuteResult } = await import('../pipeline/executor.js');
    const raw = await ctx.peer.request(
      'pipeline/execute',
      { config, inputs, context, timeoutMs: run.timeoutMs },
      // Elixir enforces timeoutMs on the execution itself; ours covers the wire on top.
      { timeoutMs: run.timeoutMs + 5_000, signal },
    );
    return validateExecuteResult(raw);
  };
}

const OPTIMIZER_ALIASES: Record<string, string> = {
  labeled_few_shot: 'LabeledFewShot',
  labeled_fewshot: 'LabeledFewShot',
  bootstrap_few_shot: 'BootstrapFewShot',
  bootstrap_fewshot: 'BootstrapFewShot',
  random_search: 'BootstrapFewShotWithRandomSearch',
  bootstrap_few_shot_with_random_search: 'BootstrapFewShotWithRandomSearch',
  mipro_v2: 'MIPROv2',
  miprov2: 'MIPROv2',
};

/** `BootstrapFewShot`, or any of its snake_case spellings, to the optimizer's class name. */
export function canonicalOptimizerName(name: string): string {
  return OPTIMIZER_ALIASES[name.toLowerCase()] ?? name;
}

/** The metric: the request's, else the workflow's own `dspy.metric`, else exact match. */
function metricSpec(params: RunParams, config: PipelineConfig): { name: string; options?: Record<string, unknown> } {
  if (params.metric) return params.metric;
  const fromConfig = (config.workflow as Record<string, unknown>).dspy as { metric?: unknown } | undefined;
  const m = fromConfig?.metric;
  if (typeof m === 'string') return { name: m };
  if (m && typeof m === 'object' && typeof (m as { name?: unknown }).name === 'string') {
    return m as { name: string; options?: Record<string, unknown> };
  }
  return { name: DEFAULT_METRIC };
}

export async function prepareRun(params: RunParams, ctx: RunEnv): Promise<PreparedRun> {
  const [pipeline, { Meter }] = await Promise.all([import('../pipeline/index.js'), import('../lm/meter.js')]);
  const runId = checkRunId(params.runId ?? newRunId());
  const seed = params.seed ?? 0;
  const concurrency = params.concurrency ?? DEFAULT_CONCURRENCY;
  const lmSpec = params.lm ?? ctx.services.defaultLM;
  const lms = await ctx.services.lms();
  const lm = lms.get(lmSpec); // validates the spec before any work

  const config = await pipeline.loadPipelineSource(params.pipeline);
  const { examples, ids } = await loadExamplesWithIds(params.trainingData);
  if (examples.length === 0) {
    throw new RpcError(ErrorCode.InvalidInput, 'the training data holds no examples', { field: 'trainingData' });
  }
  const { trainset, valset } = await splitExamples(examples, seed, params.valFraction);
  const m = metricSpec(params, config);
  const metric = pipeline.getMetric(m.name, m.options ?? {}, {
    lm,
    resolveLM: (spec) => lms.get(spec),
    logger: ctx.logger,
  });

  const timeoutMs = params.executionTimeoutMs ?? DEFAULT_EXECUTION_TIMEOUT_MS;
  const executor = pipeline.withConcurrencyLimit(peerExecutor(ctx, { runId, lmSpec, timeoutMs }), concurrency);
  const program = new pipeline.PipelineProgram(config, {
    executor,
    trainset: examples,
    runId,
    ...(params.steps ? { steps: params.steps } : {}),
    ...(params.signatures ? { signatures: params.signatures } : {}),
  });

  const outDir = resolve(params.outDir ?? process.cwd());
  return {
    runId,
    name: params.name ?? config.workflow.name,
    config,
    examples,
    ids,
    trainset,
    valset,
    metric,
    program,
    lmSpec,
    outDir,
    runDir: join(outDir, '.elexirion', 'runs', runId),
    meter: new Meter(params.budget ? { budget: params.budget } : {}),
    seed,
    concurrency,
  };
}

export function usageSummary(meter: Meter): UsageSummary {
  const u = meter.usage.snapshot();
  return {
    calls: u.calls,
    cacheHits: u.cacheHits,
    sent: u.sent,
    aborted: u.aborted,
    inputTokens: u.inputTokens,
    outputTokens: u.outputTokens,
    costUsd: u.costUsd,
  };
}

/** Optimizer progress -> `$/progress` values (schema RunProgress), with the run's totals. */
export function progressSink(ctx: Pick<MethodContext, 'progress'>, meter: Meter): (e: Partial<RunProgress> & { phase: string }) => void {
  return (e) => {
    const u = meter.usage.snapshot();
    ctx.progress({ ...e, calls: e.calls ?? u.calls, costUsd: e.costUsd ?? u.costUsd });
  };
}

/** Examples in their stable order, with the ids results are reported under. */
async function loadExamplesWithIds(
  source: RunParams['trainingData'],
): Promise<{ examples: Example[]; ids: Map<Example, string | number> }> {
  const { TrainingDataManager, toExample, examplesFromInline } = await import('../pipeline/training_data.js');
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
