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
import type { AnyOptimizer } from '../optimizers/factory.js';
import type { RunJournal } from '../optimizers/journal.js';
import { RunContext, stopReason } from '../optimizers/run.js';
import type { CompileReport } from '../optimizers/types.js';
import type { PipelineProgram } from '../pipeline/program.js';
import type { OptimizedPaths } from '../pipeline/output.js';
import type { OptimizeDryRunResult, OptimizeParams, OptimizeResult, OptimizeRunResult } from '../protocol/run.js';
import { hashJson } from '../util/canonical_json.js';
import { dropFailingDemos } from './demo_check.js';
import { RunFailedError, RunInterruptedError } from './errors.js';
import { isTransientFault, RunFaults } from './faults.js';
import type { RunHost } from './host.js';
import { canEstimate, canonicalOptimizerName, DEFAULT_OPTIMIZER } from './optimizer_names.js';
import { paretoOf } from './pareto.js';
import { prepareRun, type PreparedRun } from './prepare.js';
import { progressSink, usageSummary, type ProgressSink } from './progress.js';
import { journaledWork, openScoresJournal, plannedOptimizerUnits, resumeMessage } from './resume.js';
import { scoreHeldOut, type HeldOutScores } from './score.js';
import { checkOptimizer, checkOutputs } from './validate.js';
import { decideVerdict } from './verdict.js';
import { RunRecorder, type RecorderFinish } from '../report/recorder.js';
import { writeReport } from '../report/write_report.js';

/** Everything the stages of one run share. */
interface RunPlan {
  run: PreparedRun;
  optimizer: AnyOptimizer;
  optimizerName: string;
  options: Record<string, unknown>;
  writeAnyway: boolean;
  host: RunHost;
  faults: RunFaults;
  /** The caller's signal and the fault tracker's: either stops the run. */
  signal: AbortSignal;
  progress: ProgressSink;
  paths: OptimizedPaths;
  /** Records run.json for the HTML report (absent with `report: false`). */
  recorder: RunRecorder | undefined;
}

export async function optimizeRun(params: OptimizeParams, host: RunHost): Promise<OptimizeResult> {
  const optimizerName = canonicalOptimizerName(params.optimizer?.name ?? DEFAULT_OPTIMIZER);
  const options: Record<string, unknown> = { ...(params.optimizer?.options ?? {}) };
  const dryRun = options.dryRun === true;
  if (options.dryRun === false && !canEstimate(optimizerName)) delete options.dryRun;

  const run = await prepareRun(params, host);
  const paths = checkOutputs(run.outDir, run.name, run.runDir);
  const llmSteps = run.config.workflow.steps.filter((s) => isLlmStep(s)).length;
  // One program run of a pipeline is one execution, which makes one LM call per LLM step.
  if (dryRun && options.callsPerForward === undefined) options.callsPerForward = Math.max(1, llmSteps);
  const optimizer = checkOptimizer(optimizerName, options, run.lm, run.reflectionLm);
  const recorder =
    params.report === false
      ? undefined
      : new RunRecorder({
          runId: run.runId,
          settings: {
            optimizer: optimizerName,
            options,
            seed: run.seed,
            lm: run.lmSpec,
            metric: run.metricSpec.name,
            ...(params.budget ? { budget: params.budget } : {}),
            pipeline: run.name,
          },
        });
  const report = (v: Parameters<NonNullable<RunHost['progress']>>[0]) => {
    recorder?.onProgress(v);
    // Stryker disable next-line OptionalChaining: calling a missing listener throws inside progressSink's try, which drops the event the same way
    host.progress?.(v);
  };
  const progress = progressSink(report, run.meter);

  if (dryRun) return dryRunEstimate(run, optimizer, llmSteps, progress);

  const faults = new RunFaults();
  const plan: RunPlan = {
    run,
    optimizer,
    optimizerName,
    options,
    writeAnyway: params.writeAnyway === true,
    host,
    faults,
    signal: host.signal ? AbortSignal.any([host.signal, faults.signal]) : faults.signal,
    progress,
    paths,
    recorder,
  };
  const body = () =>
    runWithMeter(run.meter, () => runStages(plan)).catch((err: unknown) => {
      // A run that stops with nothing to keep still says what it spent: every request it sent
      // is charged, and the client is told so in the error.
      if (err instanceof RunFailedError || err instanceof RunInterruptedError) err.usage = usageSummary(run.meter);
      throw err;
    });
  return host.track ? host.track(run.runId, { meter: run.meter, faults }, body) : body();
}

async function dryRunEstimate(run: PreparedRun, optimizer: AnyOptimizer, llmSteps: number, progress: ProgressSink): Promise<OptimizeDryRunResult> {
  // Nothing is executed or written: the optimizer's estimate plus the two scoring passes.
  const { report } = await optimizer.compile(run.program, {
    trainset: run.trainset,
    valset: run.valset,
    metric: run.metric,
    seed: run.seed,
    meter: run.meter,
    // Warnings (a GEPA budget too small for one round) reach the stream; the estimate comes below.
    onProgress: (e) => {
      if (e.phase !== 'dry_run') progress(e);
    },
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

async function runStages(plan: RunPlan): Promise<OptimizeRunResult> {
  const { run, host, progress } = plan;
  const before = journaledWork(run.runDir);
  const doneBefore = before.optimizer + before.scores;
  if (doneBefore > 0) {
    const planned =
      2 * run.valset.length + plannedOptimizerUnits(plan.optimizerName, plan.options, run.trainset.length, run.program.predictors().length, run.valset.length);
    progress({ phase: 'resume', message: resumeMessage(run.runId, doneBefore, planned) });
  }
  const journal = openScoresJournal(run.runDir, run);
  try {
    const baseline = await scoreBaseline(plan, journal);
    const { compiled, report, best, cutShortReason } = await compileAndScore(plan, journal);
    // Stryker disable next-line LogicalOperator: abort() always sets a reason (an AbortError when given none)
    if (host.signal?.aborted) throw host.signal.reason ?? new Error('aborted');

    const bestScore = best?.score ?? report.bestScore ?? baseline.score;
    const verdict = decideVerdict({
      metric: run.metricSpec.name,
      baseline: baseline.perExample,
      best: best?.perExample,
      baselineScore: baseline.score,
      bestScore,
      seed: run.seed,
      writeAnyway: plan.writeAnyway,
      cutShortReason,
      runId: run.runId,
    });
    const optimizedConfig = compiled.renderConfig() as unknown as Record<string, unknown>;
    const saved = saveProgram(compiled) as unknown as Record<string, unknown>;
    if (verdict.written) await writeOptimized(run.outDir, run.name, optimizedConfig, saved);
    // Units found done when the run started, and all the run's units now (the journals' entries).
    const recorded = (report.journal?.recorded ?? 0) + journal.work.recorded;
    const resumed = doneBefore > 0 ? { resumed: { done: doneBefore, total: doneBefore + recorded } } : {};
    const reportPath = await writeRunReport(plan, {
      report,
      verdict,
      ...resumed,
      heldOut: { examples: run.valset, baseline: baseline.perExample, best: best?.perExample ?? baseline.perExample, ids: run.ids },
      before: run.program,
      after: compiled,
      ...recorderPareto(report),
    });
    progress({ phase: 'done', score: bestScore, bestScore, message: verdict.written ? plan.paths.yamlPath : verdict.reason });
    return {
      runId: run.runId,
      baselineScore: baseline.score,
      bestScore,
      optimizedConfig,
      ...(verdict.written ? { optimizedYamlPath: plan.paths.yamlPath, programPath: plan.paths.programPath } : {}),
      program: saved,
      trials: report.trials.map((t) => ({ ...t })),
      usage: usageSummary(run.meter),
      cutShort: cutShortReason !== undefined,
      ...(cutShortReason !== undefined ? { cutShortReason } : {}),
      verdict,
      ...(reportPath ? { reportPath } : {}),
      ...resumed,
      ...paretoOf(report),
    };
  } finally {
    journal.close();
  }
}

/**
 * run.json and the HTML report, into the run directory. A report that cannot be written is
 * logged and left out: it never fails a run whose outputs are already decided.
 */
async function writeRunReport(plan: RunPlan, finish: RecorderFinish): Promise<string | undefined> {
  if (!plan.recorder) return undefined;
  const { runDir, outDir } = plan.run;
  try {
    await plan.recorder.write(runDir, finish, { root: outDir });
    return await writeReport(runDir, { root: outDir });
  } catch (err) {
    plan.host.logger?.warn({ err: (err as Error).message, runDir }, 'the run report could not be written');
    return undefined;
  }
}

/** GEPA's candidates and quality/cost front, for the report (from the result's `pareto`). */
function recorderPareto(report: CompileReport): Pick<RecorderFinish, 'pareto'> {
  const p = paretoOf(report).pareto;
  if (!p) return {};
  return {
    pareto: {
      candidates: p.candidates.map(({ candidate, score, costUsd, tokens }) => ({ candidate, score, costUsd, tokens })),
      front: p.front.map((f) => f.candidate),
      selected: p.selected,
      rule: p.rule,
    },
  };
}

function scoringContext(plan: RunPlan, phase: string): RunContext {
  const { run } = plan;
  return new RunContext(run.meter, run.seed, run.concurrency, plan.signal, (e) => plan.progress({ ...e, phase }), undefined);
}

/** The pipeline as written, on the held-out examples. A provider fault here leaves nothing to keep. */
async function scoreBaseline(plan: RunPlan, journal: RunJournal): Promise<HeldOutScores> {
  const { run } = plan;
  plan.progress({ phase: 'baseline', message: `scoring the pipeline as written on ${run.valset.length} held-out examples` });
  try {
    return await scoreHeldOut(scoringContext(plan, 'baseline'), run.program, run.valset, run.metric, {
      phase: 'baseline',
      metricName: run.metricSpec.name,
      journal,
    });
  } catch (err) {
    const fault = faultOf(err, plan.faults);
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
}

/** Optimize; then, unless cut short, drop the demos that fail the metric and score the result. */
async function compileAndScore(
  plan: RunPlan,
  journal: RunJournal,
): Promise<{ compiled: PipelineProgram; report: CompileReport; best: HeldOutScores | undefined; cutShortReason: string | undefined }> {
  const { run, progress } = plan;
  const { program: compiled, report } = await plan.optimizer.compile(run.program, {
    trainset: run.trainset,
    valset: run.valset,
    metric: run.metric,
    seed: run.seed,
    signal: plan.signal,
    // The optimizer's own `done` is not the run's: scoring and writing come after it.
    onProgress: (e) => progress(e.phase === 'done' ? { ...e, phase: 'compiled' } : e),
    runDir: run.runDir,
    // Symlinks on the way to the run directory are checked against the output folder.
    outputRoot: run.outDir,
    concurrency: run.concurrency,
    meter: run.meter,
  });
  if (report.journalDamage) {
    plan.host.logger?.warn({ journalDamage: report.journalDamage }, 'run journal damaged: replay stopped at the damaged line, the rest was redone');
    progress({ phase: 'resume', message: `the run journal was damaged at line ${report.journalDamage.line}: replay stopped there and the rest was redone` });
  }
  if (report.cutShort) return { compiled, report, best: undefined, cutShortReason: report.cutShortReason ?? 'stopped' };
  try {
    const check = await dropFailingDemos(compiled, run.trainset, run.metric, thresholdOf(plan.options));
    if (check.dropped > 0) progress({ phase: 'demos', message: `dropped ${check.dropped} of ${check.checked} bootstrapped demos that fail the metric` });
    progress({ phase: 'final', message: `scoring the optimized pipeline on ${run.valset.length} held-out examples` });
    const best = await scoreHeldOut(scoringContext(plan, 'final'), compiled, run.valset, run.metric, {
      phase: 'final',
      metricName: run.metricSpec.name,
      journal,
      journalKey: `final/${hashJson(programToJson(compiled)).slice(0, 16)}`,
    });
    return { compiled, report, best, cutShortReason: undefined };
  } catch (err) {
    // The budget or the provider can give out while scoring the winner: keep it, say so.
    if (!(err instanceof BudgetExceededError) && !faultOf(err, plan.faults)) throw err;
    return { compiled, report, best: undefined, cutShortReason: `${stopReason(err, plan.signal)} (while scoring the optimized program)` };
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
