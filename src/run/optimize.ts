/**
 * One optimization run, whole: validate everything that can be validated (before the first LM
 * call), prepare, score the pipeline as written on the held-out examples, compile, check the
 * bootstrapped demos against the metric, score the result the same way, decide, write.
 *
 * - A budget, a cancellation or a provider fault during compile or final scoring ends the run
 *   cleanly with the best program so far (`cutShort`); a provider fault is never journaled as
 *   finished work, so the same `runId` resumes the run and ends as an uninterrupted one would.
 * - A provider fault while scoring the baseline ends the run with `RunInterruptedError`
 *   (nothing to compare with yet); the examples scored so far are journaled.
 * - A metric that cannot score, or executions that all fail, stop the run (`RunFailedError`).
 * - The optimized config and program are written only when the verdict says the lift is above
 *   noise, or when `writeAnyway` asks for them.
 */
import { BudgetExceededError } from '../lm/budget.js';
import { runWithMeter } from '../lm/meter.js';
import { isLlmStep } from '../pipeline/model.js';
import { writeOptimized } from '../pipeline/output.js';
import { programToJson, saveProgram } from '../optimizers/program_io.js';
import { RunContext, stopReason } from '../optimizers/run.js';
import type { OptimizeDryRunResult, OptimizeParams, OptimizeResult, OptimizeRunResult } from '../protocol/run.js';
import { hashJson } from '../util/canonical_json.js';
import { dropFailingDemos } from './demo_check.js';
import { RunInterruptedError } from './errors.js';
import { isTransientFault, RunFaults } from './faults.js';
import type { RunHost } from './host.js';
import { canonicalOptimizerName, DEFAULT_OPTIMIZER } from './optimizer_names.js';
import { prepareRun, type PreparedRun } from './prepare.js';
import { progressSink, usageSummary, type ProgressSink } from './progress.js';
import { journaledWork, openScoresJournal, plannedOptimizerUnits, resumeMessage } from './resume.js';
import { scoreHeldOut, type HeldOutScores } from './score.js';
import { checkOptimizer, checkOutputs } from './validate.js';
import { decideVerdict } from './verdict.js';

export async function optimizeRun(params: OptimizeParams, host: RunHost): Promise<OptimizeResult> {
  const name = canonicalOptimizerName(params.optimizer?.name ?? DEFAULT_OPTIMIZER);
  const options: Record<string, unknown> = { ...(params.optimizer?.options ?? {}) };
  const dryRun = options.dryRun === true;
  if (options.dryRun === false && name !== 'MIPROv2') delete options.dryRun;

  const run = await prepareRun(params, host);
  const paths = checkOutputs(run.outDir, run.name);
  const llmSteps = run.config.workflow.steps.filter((s) => isLlmStep(s)).length;
  // One program run of a pipeline is one execution, which makes one LM call per LLM step.
  if (dryRun && options.callsPerForward === undefined) options.callsPerForward = Math.max(1, llmSteps);
  const optimizer = checkOptimizer(name, options, run.lm);
  const progress = progressSink(host.progress?.bind(host), run.meter);

  if (dryRun) return dryRunEstimate(run, optimizer, llmSteps, progress);

  const faults = new RunFaults();
  const body = () => runWithMeter(run.meter, () => compileScoreWrite(run, optimizer, name, options, params, host, faults, progress, paths));
  return host.track ? host.track(run.runId, { meter: run.meter, faults }, body) : body();
}

async function dryRunEstimate(
  run: PreparedRun,
  optimizer: ReturnType<typeof checkOptimizer>,
  llmSteps: number,
  progress: ProgressSink,
): Promise<OptimizeDryRunResult> {
  // Nothing is executed or written: the optimizer's estimate plus the two scoring passes.
  const { report } = await optimizer.compile(run.program, {
    trainset: run.trainset,
    valset: run.valset,
    metric: run.metric,
    seed: run.seed,
    meter: run.meter,
  });
  const e = report.estimate!;
  const scoring = run.valset.length * Math.max(1, llmSteps);
  const result: OptimizeDryRunResult = {
    runId: run.runId,
    dryRun: true,
    estimate: {
      calls: {
        baseline: scoring,
        optimizer: e.calls.total,
        final: scoring,
        total: { expected: e.calls.total.expected + 2 * scoring, max: e.calls.total.max + 2 * scoring },
      },
      tokens: e.tokens,
      ...(e.costUsd ? { costUsd: e.costUsd } : {}),
      summary: `${e.summary}; plus ${2 * scoring} LM calls to score the pipeline before and after`,
    },
  };
  progress({ phase: 'dry_run', message: result.estimate.summary });
  return result;
}

async function compileScoreWrite(
  run: PreparedRun,
  optimizer: ReturnType<typeof checkOptimizer>,
  name: string,
  options: Record<string, unknown>,
  params: OptimizeParams,
  host: RunHost,
  faults: RunFaults,
  progress: ProgressSink,
  paths: { yamlPath: string; programPath: string },
): Promise<OptimizeRunResult> {
  const signal = host.signal ? AbortSignal.any([host.signal, faults.signal]) : faults.signal;
  const metricName = run.metricSpec.name;

  const before = journaledWork(run.runDir);
  const doneBefore = before.optimizer + before.scores;
  if (doneBefore > 0) {
    const planned = 2 * run.valset.length + plannedOptimizerUnits(name, options, run.trainset.length, run.program.predictors().length);
    progress({ phase: 'resume', message: resumeMessage(run.runId, doneBefore, planned) });
  }

  const journal = openScoresJournal(run.runDir, run);
  try {
    const scoring = (phase: string) =>
      new RunContext(run.meter, run.seed, run.concurrency, signal, (e) => progress({ ...e, phase }), undefined);

    // 1. The pipeline as written.
    progress({ phase: 'baseline', message: `scoring the pipeline as written on ${run.valset.length} held-out examples` });
    let baseline: HeldOutScores;
    try {
      baseline = await scoreHeldOut(scoring('baseline'), run.program, run.valset, run.metric, { phase: 'baseline', metricName, journal });
    } catch (err) {
      const fault = faultOf(err, faults);
      if (!fault) throw err;
      throw new RunInterruptedError(
        run.runId,
        'baseline',
        'provider',
        `the LM provider failed while scoring the pipeline as written (${fault.message}); nothing was written. ` +
          `The examples scored so far are journaled: resume with runId ${run.runId}`,
        { cause: fault },
      );
    }

    // 2. Optimize.
    const { program: compiled, report } = await optimizer.compile(run.program, {
      trainset: run.trainset,
      valset: run.valset,
      metric: run.metric,
      seed: run.seed,
      signal,
      // The optimizer's own `done` is not the run's: scoring and writing come after it.
      onProgress: (e) => progress(e.phase === 'done' ? { ...e, phase: 'compiled' } : e),
      runDir: run.runDir,
      concurrency: run.concurrency,
      meter: run.meter,
    });
    let cutShort = report.cutShort;
    let cutShortReason = report.cutShortReason;
    if (host.signal?.aborted) throw host.signal.reason ?? new Error('aborted');

    // 3. No demo that fails the metric, then the optimized program on the same examples.
    let best: HeldOutScores | undefined;
    if (!cutShort) {
      try {
        const check = await dropFailingDemos(compiled, run.trainset, run.metric, thresholdOf(options));
        if (check.dropped > 0) progress({ phase: 'demos', message: `dropped ${check.dropped} of ${check.checked} bootstrapped demos that fail the metric` });
        progress({ phase: 'final', message: `scoring the optimized pipeline on ${run.valset.length} held-out examples` });
        best = await scoreHeldOut(scoring('final'), compiled, run.valset, run.metric, {
          phase: 'final',
          metricName,
          journal,
          journalKey: `final/${hashJson(programToJson(compiled)).slice(0, 16)}`,
        });
      } catch (err) {
        // The budget or the provider can give out while scoring the winner: keep it, say so.
        if (!(err instanceof BudgetExceededError) && !faultOf(err, faults)) throw err;
        cutShort = true;
        cutShortReason = `${stopReason(err, signal)} (while scoring the optimized program)`;
      }
    }
    if (host.signal?.aborted) throw host.signal.reason ?? new Error('aborted');

    // 4. Decide, write.
    const bestScore = best?.score ?? report.bestScore ?? baseline.score;
    const verdict = decideVerdict({
      metric: metricName,
      baseline: baseline.perExample,
      best: best?.perExample,
      baselineScore: baseline.score,
      bestScore,
      seed: run.seed,
      writeAnyway: params.writeAnyway === true,
      cutShortReason,
      runId: run.runId,
    });
    const optimizedConfig = compiled.renderConfig() as unknown as Record<string, unknown>;
    const saved = saveProgram(compiled) as unknown as Record<string, unknown>;
    if (verdict.written) await writeOptimized(run.outDir, run.name, optimizedConfig, saved);
    // Units found done when the run started, and all the run's units now (the journals' entries).
    const recorded = (report.journal?.recorded ?? 0) + journal.work.recorded;
    progress({ phase: 'done', score: bestScore, bestScore, message: verdict.written ? paths.yamlPath : verdict.reason });
    return {
      runId: run.runId,
      baselineScore: baseline.score,
      bestScore,
      optimizedConfig,
      ...(verdict.written ? { optimizedYamlPath: paths.yamlPath, programPath: paths.programPath } : {}),
      program: saved,
      trials: report.trials.map((t) => ({ ...t })),
      usage: usageSummary(run.meter),
      cutShort,
      ...(cutShortReason ? { cutShortReason } : {}),
      verdict,
      ...(doneBefore > 0 ? { resumed: { done: doneBefore, total: doneBefore + recorded } } : {}),
    };
  } finally {
    journal.close();
  }
}

/** The provider fault behind `err`: itself, or the one that aborted the run. */
function faultOf(err: unknown, faults: RunFaults): Error | undefined {
  if (isTransientFault(err)) return err as Error;
  return faults.fault;
}

function thresholdOf(options: Record<string, unknown>): number | undefined {
  return typeof options.metricThreshold === 'number' ? options.metricThreshold : undefined;
}
