import {
  OptimizeParams,
  type OptimizeDryRunResult,
  type OptimizeResult,
  type OptimizeRunResult,
} from '../../protocol/run.js';
import { ErrorCode, RpcError, invalidParams } from '../../rpc/errors.js';
import { canonicalOptimizerName, prepareRun, progressSink, usageSummary } from '../pipeline_run.js';
import { defineMethod } from '../registry.js';

export const DEFAULT_OPTIMIZER = 'BootstrapFewShot';

/**
 * The user's job, whole: score the pipeline as written on held-out examples, optimize its
 * LLM steps' instructions and demos with every candidate running in Elixir, score the winner
 * the same way, and write it back as a pipeline_ex config plus the DSPy-shaped program.
 * A budget or a cancellation ends the run cleanly with the best program so far (`cutShort`).
 */
export default defineMethod({
  method: 'optimize',
  kind: 'request',
  params: OptimizeParams,
  async handler(params, ctx): Promise<OptimizeResult> {
    const [opt, { runWithMeter }, { writeOptimized }, { BudgetExceededError }] = await Promise.all([
      import('../../optimizers/index.js'),
      import('../../lm/meter.js'),
      import('../../pipeline/output.js'),
      import('../../lm/budget.js'),
    ]);
    const name = canonicalOptimizerName(params.optimizer?.name ?? DEFAULT_OPTIMIZER);
    if (!(opt.OPTIMIZER_NAMES as string[]).includes(name)) {
      throw invalidParams([
        { path: ['optimizer', 'name'], message: `unknown optimizer; known: ${opt.OPTIMIZER_NAMES.join(', ')}` },
      ]);
    }
    const options: Record<string, unknown> = { ...(params.optimizer?.options ?? {}) };
    const dryRun = options.dryRun === true;
    if (dryRun && name !== 'MIPROv2') {
      throw invalidParams([{ path: ['optimizer', 'options', 'dryRun'], message: 'a dry run estimate is available for MIPROv2' }]);
    }
    const run = await prepareRun(params, ctx);
    const lm = (await ctx.services.lms()).get(run.lmSpec);
    // One program run of a pipeline is one execution, which makes one LM call per LLM step.
    const { isLlmStep } = await import('../../pipeline/model.js');
    const llmSteps = run.config.workflow.steps.filter((s) => isLlmStep(s)).length;
    if (dryRun && options.callsPerForward === undefined) options.callsPerForward = Math.max(1, llmSteps);
    let optimizer: ReturnType<typeof opt.createOptimizer>;
    try {
      optimizer = opt.createOptimizer(name, options, { promptModel: lm, taskModel: lm });
    } catch (err) {
      const issues = (err as { issues?: Array<{ path: PropertyKey[]; message: string }> }).issues;
      if (!issues) throw err;
      throw invalidParams(issues.map((i) => ({ path: ['optimizer', 'options', ...i.path], message: i.message })));
    }

    const progress = progressSink(ctx, run.meter);
    const evaluate = (program: typeof run.program, phase: string) =>
      new opt.Evaluate({
        devset: run.valset,
        metric: run.metric,
        concurrency: run.concurrency,
        signal: ctx.signal,
        onProgress: (e) => progress({ ...e, phase }),
      }).run(program);

    if (dryRun) {
      // Nothing is executed or written: the optimizer's estimate plus the two scoring passes.
      const { report } = await optimizer.compile(run.program, {
        trainset: run.trainset,
        valset: run.valset,
        metric: run.metric,
        seed: run.seed,
        signal: ctx.signal,
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

    return ctx.services.runs.with(run.runId, run.meter, () =>
      runWithMeter(run.meter, async (): Promise<OptimizeRunResult> => {
        progress({ phase: 'baseline', message: `scoring the pipeline as written on ${run.valset.length} examples` });
        const baseline = await evaluate(run.program, 'baseline');
        const { program, report } = await optimizer.compile(run.program, {
          trainset: run.trainset,
          valset: run.valset,
          metric: run.metric,
          seed: run.seed,
          signal: ctx.signal,
          // The optimizer's own `done` is not the run's: scoring and writing come after it.
          onProgress: (e) => progress(e.phase === 'done' ? { ...e, phase: 'compiled' } : e),
          runDir: run.runDir,
          outputRoot: run.outDir,
          concurrency: run.concurrency,
          meter: run.meter,
        });

        if (report.journalDamage) ctx.logger.warn({ journalDamage: report.journalDamage }, 'run journal damaged: replay stopped at the damaged line, the rest was redone');
        let cutShort = report.cutShort;
        let cutShortReason = report.cutShortReason;
        let bestScore = report.bestScore ?? baseline.score;
        if (!cutShort) {
          try {
            bestScore = (await evaluate(program, 'final')).score;
          } catch (err) {
            // The budget can run out while scoring the winner: keep it, say so.
            if (!(err instanceof BudgetExceededError)) throw err;
            cutShort = true;
            cutShortReason = `budget: ${err.message} (while scoring the optimized program)`;
          }
        }
        if (ctx.signal.aborted) throw new RpcError(ErrorCode.RequestCancelled, 'Request cancelled');

        const optimizedConfig = program.renderConfig() as Record<string, unknown>;
        const saved = opt.saveProgram(program) as unknown as Record<string, unknown>;
        const paths = await writeOptimized(run.outDir, run.name, optimizedConfig, saved);
        progress({ phase: 'done', score: bestScore, bestScore, message: paths.yamlPath });
        return {
          runId: run.runId,
          baselineScore: baseline.score,
          bestScore,
          optimizedConfig,
          optimizedYamlPath: paths.yamlPath,
          programPath: paths.programPath,
          program: saved,
          trials: report.trials.map((t) => ({ ...t })),
          usage: usageSummary(run.meter),
          cutShort,
          ...(cutShortReason ? { cutShortReason } : {}),
        };
      }),
    );
  },
});
