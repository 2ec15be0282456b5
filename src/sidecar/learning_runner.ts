/**
 * The learner's optimizer runner and example sink, built on the run home (src/run/): the
 * same pipeline loading, seeded split, metric, meter, held-out scoring and `pipeline/execute`
 * executor as `optimize`, outside any request.
 *
 * A run of pipeline NAME:
 *   1. pipeline: the current promoted config if there is one, else the registered YAML;
 *   2. examples: the registered `trainingData` dir (read only) followed by the production
 *      examples the feedback job wrote to `<dataDir>/learning/training_data/<NAME>/`;
 *   3. seeded split (`valFraction`, default 0.25): the held-out part is never shown to the
 *      optimizer, which compiles on the rest (light: BootstrapFewShot; full: MIPROv2 auto light;
 *      the registration's `optimizer` overrides both: `{name: "GEPA", options}` reflects on
 *      these examples' executions with the run's metric feedback, its reflection LM the run's LM);
 *   4. the config in force AND the candidate are scored per example on the held-out part, in
 *      the same order: the promotion guard pairs these scores.
 * Every candidate runs in Elixir through `pipeline/execute`; the run's meter is registered in
 * `services.runs`, so the `lm/generate` calls Elixir makes for it count against its budget.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { OptimizerRunner, RunOutcome } from '../learning/continuous_learner.js';
import type { ExampleSink } from '../learning/production_examples.js';
import { pipelineFileName } from '../learning/config_registry.js';
import type { LearningService } from './learning_service.js';
import { sidecarHost, type RunEnv } from './pipeline_run.js';
import type { CoreServices } from './services.js';

/** Where the production examples of a pipeline live. */
export function productionExamplesDir(learningDir: string, pipeline: string): string {
  return join(learningDir, 'training_data', pipelineFileName(pipeline));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * The expected output of a production execution: a `pipeline/execute`-shaped result
 * (`{status, output, ...}`) gives its `output`; a JSON string is decoded; other non-objects
 * become `{response: value}`.
 */
export function expectedOutputOf(output: unknown): Record<string, unknown> {
  let v = output;
  if (isObject(v) && 'status' in v && 'output' in v) v = v.output;
  if (typeof v === 'string') {
    try {
      const parsed: unknown = JSON.parse(v);
      if (isObject(parsed)) return parsed;
    } catch {
      // plain text
    }
    return { response: v };
  }
  return isObject(v) ? v : { response: v ?? null };
}

/** Production examples go to one TrainingDataManager directory per pipeline (atomic files). */
export function productionExampleSink(learningDir: string): ExampleSink {
  return {
    async addExample(pipeline, input, expectedOutput, metadata) {
      if (!isObject(input)) throw new Error('the execution has no input object');
      const { TrainingDataManager } = await import('../pipeline/training_data.js');
      return new TrainingDataManager(productionExamplesDir(learningDir, pipeline)).createExample(
        input,
        expectedOutputOf(expectedOutput),
        metadata,
      );
    },
  };
}

async function listIfExists(dir: string) {
  const { existsSync } = await import('node:fs');
  if (!existsSync(dir)) return [];
  const { TrainingDataManager } = await import('../pipeline/training_data.js');
  return new TrainingDataManager(dir).listExamples();
}

function runIdFor(pipeline: string): string {
  const safe = pipeline.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 60) || 'pipeline';
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  return `learn-${safe}-${stamp}-${randomBytes(3).toString('hex')}`;
}

export function createLearningRunner(services: CoreServices, learning: LearningService): OptimizerRunner {
  return async ({ pipeline, mode, current, signal, trigger }): Promise<RunOutcome> => {
    const reg = learning.pipeline(pipeline);
    if (!reg) throw new Error(`pipeline "${pipeline}" is not registered (initialize options.learning.pipelines)`);
    const [{ prepareRun, canonicalOptimizerName, checkOptimizer, scoreHeldOut, progressSink, RunFaults }, { RunContext }, { runWithMeter }] =
      await Promise.all([import('../run/index.js'), import('../optimizers/run.js'), import('../lm/meter.js')]);
    const logger = services.logger.child({ component: 'learning', pipeline, mode });

    const records = [
      ...(reg.trainingData ? await listIfExists(reg.trainingData) : []),
      ...(await listIfExists(productionExamplesDir(learning.dir, pipeline))),
    ];
    if (records.length === 0) throw new Error(`pipeline "${pipeline}" has no training examples`);

    const env: RunEnv = { services, peer: services.peer, signal, logger };
    const host = await sidecarHost(env);
    const runId = runIdFor(pipeline);
    const lmSpec = reg.lm ?? learning.defaultLM;
    const run = await prepareRun(
      {
        pipeline: current && isObject(current.config) ? { config: current.config } : { path: reg.path },
        trainingData: {
          examples: records.map((r) => ({ id: r.id, input: r.input, expected_output: r.expected_output, metadata: r.metadata })),
        },
        ...(reg.metric ? { metric: reg.metric } : {}),
        ...(lmSpec ? { lm: lmSpec } : {}),
        ...(reg.budget ? { budget: reg.budget } : {}),
        ...(reg.valFraction !== undefined ? { valFraction: reg.valFraction } : {}),
        ...(reg.concurrency !== undefined ? { concurrency: reg.concurrency } : {}),
        ...(reg.executionTimeoutMs !== undefined ? { executionTimeoutMs: reg.executionTimeoutMs } : {}),
        seed: reg.seed ?? 0,
        runId,
      },
      host,
    );
    run.runDir = join(learning.dir, 'runs', runId);

    const name = canonicalOptimizerName(reg.optimizer?.name ?? (mode === 'full' ? 'MIPROv2' : 'BootstrapFewShot'));
    const options = reg.optimizer?.options ?? (name === 'MIPROv2' ? { auto: 'light' } : {});
    const optimizer = checkOptimizer(name, options, run.lm);
    logger.info({ runId, trigger, optimizer: name, train: run.trainset.length, heldOut: run.valset.length }, 'learning run started');
    const progress = progressSink(learning.progress(pipeline), run.meter);
    const faults = new RunFaults();
    const runSignal = AbortSignal.any([signal, faults.signal]);

    return services.runs.with(
      run.runId,
      run.meter,
      () =>
        runWithMeter(run.meter, async (): Promise<RunOutcome> => {
          // The optimizer never sees the held-out examples: it compiles (and, for the searching
          // optimizers, selects) on the training part only.
          const { program } = await optimizer.compile(run.program, {
            trainset: run.trainset,
            metric: run.metric,
            seed: run.seed,
            signal: runSignal,
            runDir: run.runDir,
            concurrency: run.concurrency,
            meter: run.meter,
            // as in `optimize`: the optimizer's own `done` is not the run's (the guard scores come after)
            onProgress: (e) => progress(e.phase === 'done' ? { ...e, phase: 'compiled' } : e),
          });
          // The config in force and the candidate, per example on the same held-out part: the
          // promotion guard pairs these scores.
          const score = (p: typeof run.program, phase: string) => {
            progress({ phase, message: `scoring on ${run.valset.length} held-out examples` });
            const ctx = new RunContext(run.meter, run.seed, run.concurrency, runSignal, (e) => progress({ ...e, phase }), undefined);
            return scoreHeldOut(ctx, p, run.valset, run.metric, { phase, metricName: run.metricSpec.name });
          };
          const cur = await score(run.program, 'guard-current');
          const cand = await score(program, 'guard-candidate');
          const u = run.meter.usage.snapshot();
          logger.info({ runId, current: cur.score, candidate: cand.score, calls: u.calls }, 'learning run scored');
          return {
            candidateConfig: program.renderConfig(),
            currentScores: cur.perExample,
            candidateScores: cand.perExample,
            currentConfig: run.program.renderConfig(),
            cost: { usd: u.costUsd, calls: u.calls, inputTokens: u.inputTokens, outputTokens: u.outputTokens },
          };
        }),
      faults,
    );
  };
}
