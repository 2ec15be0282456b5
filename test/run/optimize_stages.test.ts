// optimizeRun's stages as a caller meets them: a run started again with the same id resumes
// (a finished one executes nothing), a provider fault or the budget at each stage ends the
// run the way the contract says, the dry run counts every LLM step, and the host's hooks see
// the run.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LMError } from '../../src/lm/errors.js';
import type { Meter } from '../../src/lm/meter.js';
import type { OptimizeDryRunResult, OptimizeRunResult, RunProgress } from '../../src/protocol/run.js';
import { optimizeRun, RunFailedError, RunFaults, RunInterruptedError } from '../../src/run/index.js';
import { ROOT } from '../support/build.js';
import { codeAnalysisParams, flakyHost, inProcessHost, rateLimited } from './helpers.js';

const REFACTORING = join(ROOT, 'examples/refactoring');
const refactoring = (options: Record<string, unknown>) =>
  codeAnalysisParams({
    pipeline: { path: join(REFACTORING, 'pipeline.yaml') },
    trainingData: { dir: join(REFACTORING, 'training_data') },
    optimizer: { name: 'MIPROv2', options: { dryRun: true, ...options } },
  });

// The code-analysis run with the default optimizer: 6 baseline executions, 7 walked while
// bootstrapping, 6 final ones (19 LM calls), over 18 training and 6 held-out examples.
const FULL_RUN_CALLS = 19;

describe('a run started again with the same id', () => {
  it('after it finished: executes nothing, reports what was done of what was planned, and returns the same result', async () => {
    const params = codeAnalysisParams({ runId: 'again' });
    const host = inProcessHost();
    const first = (await optimizeRun(params, host)) as OptimizeRunResult;
    expect(first.usage.calls).toBe(FULL_RUN_CALLS);
    expect(host.executions).toBe(FULL_RUN_CALLS);
    const progress: RunProgress[] = [];
    host.progress = (v) => progress.push(v);
    const again = (await optimizeRun(params, host)) as OptimizeRunResult;
    expect(host.executions).toBe(FULL_RUN_CALLS); // nothing executed again
    expect(again.usage.calls).toBe(0);
    expect(again.resumed).toEqual({ done: FULL_RUN_CALLS, total: FULL_RUN_CALLS });
    // Planned: both scoring passes (2 x 6) and one walk per training example (18).
    expect(progress.filter((p) => p.phase === 'resume').map((p) => p.message)).toEqual([`resuming run again: ${FULL_RUN_CALLS} of 30 done`]);
    expect(progress[0]!.phase).toBe('resume');
    expect(again.verdict).toEqual(first.verdict);
    expect(again.program).toEqual(first.program);
    expect(readFileSync(again.optimizedYamlPath!, 'utf8')).toBe(readFileSync(first.optimizedYamlPath!, 'utf8'));
  });

  it('with a damaged journal line: says so, redoes the rest, and ends as before', async () => {
    const params = codeAnalysisParams({ runId: 'damaged' });
    const host = inProcessHost();
    const first = (await optimizeRun(params, host)) as OptimizeRunResult;
    const journal = join(params.outDir!, '.elexirion', 'runs', 'damaged', 'journal.jsonl');
    const lines = readFileSync(journal, 'utf8').split('\n');
    lines[3] = lines[3]!.replace(/"/, "'");
    writeFileSync(journal, lines.join('\n'));
    const progress: RunProgress[] = [];
    host.progress = (v) => progress.push(v);
    // No logger: the damage still reaches the progress stream.
    const again = (await optimizeRun(params, host)) as OptimizeRunResult;
    expect(again.usage.calls).toBeGreaterThan(0);
    expect(progress.filter((p) => p.phase === 'resume')).toHaveLength(2); // resuming, then the damage
    expect(again.program).toEqual(first.program);
    expect(again.verdict).toEqual(first.verdict);
  });
});

describe("the held-out scores' journal", () => {
  it('is refused for another configuration under the same run id, before anything executes', async () => {
    const params = codeAnalysisParams({ runId: 'same-id' });
    const host = inProcessHost();
    await optimizeRun(params, host);
    host.executions = 0;
    const other = await optimizeRun({ ...params, metric: { name: 'valid_json' } }, host).catch((e: unknown) => e);
    expect((other as Error).name).toBe('JournalConfigMismatchError');
    expect((other as Error).message).toMatch(/scores/);
    expect(host.executions).toBe(0);
  });

  it('stays inside the output directory: a symlinked scores folder is refused', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'elsewhere-'));
    const params = codeAnalysisParams({ runId: 'linked-scores' });
    const dir = join(params.outDir!, '.elexirion', 'runs', 'linked-scores');
    mkdirSync(dir, { recursive: true });
    symlinkSync(elsewhere, join(dir, 'scores'));
    const err = await optimizeRun(params, inProcessHost()).catch((e: unknown) => e);
    expect((err as Error).name).toBe('ConfinementError');
    expect(readdirSync(elsewhere)).toEqual([]);
  });
});

describe('faults and the budget, stage by stage', () => {
  it('a provider fault while scoring the pipeline as written ends the run resumable, writing nothing; the resume completes it', async () => {
    const host = flakyHost();
    const params = codeAnalysisParams({ runId: 'basefault', concurrency: 1 });
    host.lm.failFrom = 3;
    const err = await optimizeRun(params, host).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunInterruptedError);
    expect(err).toMatchObject({ runId: 'basefault', phase: 'baseline', kind: 'provider' });
    // What was spent comes with the error: the two calls answered before the fault.
    expect((err as RunInterruptedError).usage).toMatchObject({ calls: 2, sent: 2 });
    expect((err as Error).cause).toBeInstanceOf(LMError);
    expect(((err as Error).cause as LMError).status).toBe(429);
    host.lm.failFrom = undefined;
    host.executions = 0;
    const r = (await optimizeRun(params, host)) as OptimizeRunResult;
    // The two examples scored before the fault, of the run's 19 units all told.
    expect(r.resumed).toEqual({ done: 2, total: FULL_RUN_CALLS });
    expect(host.executions).toBe(FULL_RUN_CALLS - 2);
    expect(r.verdict?.written).toBe(true);
  });

  it('a provider fault while scoring the optimized program ends cut short, saying where, and writes nothing', async () => {
    const host = flakyHost();
    host.lm.failFrom = FULL_RUN_CALLS - 2;
    const params = codeAnalysisParams({ runId: 'finalfault', concurrency: 1 });
    const r = (await optimizeRun(params, host)) as OptimizeRunResult;
    expect(r.cutShort).toBe(true);
    expect(r.cutShortReason).toBe('provider: openai: HTTP 429 rate limited (while scoring the optimized program)');
    expect(r.verdict).toMatchObject({ written: false, improved: false, lift: 0 });
    expect(r.optimizedYamlPath).toBeUndefined();
    expect(r.bestScore).toBe(r.baselineScore); // nothing scored the optimized program
  });

  it('a provider fault reported to the run by its host (an LM call Elixir made) ends it cut short with the best so far', async () => {
    const host = inProcessHost();
    const inner = host.executorFor({ runId: 'x', lmSpec: 'offline', timeoutMs: 1000 });
    let faults: RunFaults | undefined;
    let n = 0;
    host.signal = new AbortController().signal; // a caller that could cancel, and does not
    host.track = (_runId, run, fn) => {
      faults = run.faults;
      return fn();
    };
    host.executorFor = () => async (config, inputs, ctx) => {
      if (++n === 9) {
        faults!.report(rateLimited());
        return { status: 'error', steps: {}, output: null, durationMs: 1, error: 'execution failed' };
      }
      return inner(config, inputs, ctx);
    };
    const r = (await optimizeRun(codeAnalysisParams({ runId: 'hostfault', concurrency: 1 }), host)) as OptimizeRunResult;
    expect(r.cutShort).toBe(true);
    expect(r.cutShortReason).toBe('provider: openai: HTTP 429 rate limited');
    expect(r.verdict?.written).toBe(false);
  });

  it('a budget that runs out while scoring the optimized program ends cut short with the budget as the reason', async () => {
    const params = codeAnalysisParams({ runId: 'finalbudget', budget: { maxCalls: FULL_RUN_CALLS - 3 } });
    const r = (await optimizeRun(params, inProcessHost())) as OptimizeRunResult;
    expect(r.cutShort).toBe(true);
    expect(r.cutShortReason).toMatch(/^budget: .* \(while scoring the optimized program\)$/);
    expect(r.verdict).toMatchObject({ written: false });
    expect(r.usage.calls).toBe(FULL_RUN_CALLS - 3);
  });

  it('executions that all fail on the optimized program stop the run (no fault, no cut short), writing nothing', async () => {
    const host = inProcessHost();
    const inner = host.executorFor({ runId: 'x', lmSpec: 'offline', timeoutMs: 1000 });
    let scoringOptimized = false;
    host.progress = (v) => {
      if (v.phase === 'final') scoringOptimized = true;
    };
    host.executorFor = () => async (config, inputs, ctx) =>
      scoringOptimized
        ? { status: 'error', steps: {}, output: null, durationMs: 1, error: 'the optimized prompt is too long' }
        : inner(config, inputs, ctx);
    const params = codeAnalysisParams({ runId: 'finalfail' });
    const err = await optimizeRun(params, host).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunFailedError);
    expect(err).toMatchObject({ reason: 'executions_failed', phase: 'final' });
    // What was spent comes with the error: the whole run but the final scoring's six calls.
    expect((err as RunFailedError).usage).toMatchObject({ calls: FULL_RUN_CALLS - 6, sent: FULL_RUN_CALLS - 6 });
    expect(readdirSync(params.outDir!).filter((f) => f !== '.elexirion')).toEqual([]);
  });
});

describe('the host', () => {
  it('track wraps the whole run once, under its run id, with the meter that counts its LM calls', async () => {
    const host = inProcessHost();
    const tracked: Array<{ runId: string; meter: Meter }> = [];
    host.track = async (runId, run, fn) => {
      tracked.push({ runId, meter: run.meter });
      return fn();
    };
    const r = (await optimizeRun(codeAnalysisParams({ runId: 'tracked' }), host)) as OptimizeRunResult;
    expect(tracked).toHaveLength(1);
    expect(tracked[0]!.runId).toBe('tracked');
    expect(tracked[0]!.meter.usage.snapshot().calls).toBe(r.usage.calls);
  });

  it('progress reports the scoring passes under their phases with the run totals, and ends with done', async () => {
    const host = inProcessHost();
    const progress: RunProgress[] = [];
    host.progress = (v) => progress.push(v);
    const r = (await optimizeRun(codeAnalysisParams(), host)) as OptimizeRunResult;
    const baseline = progress.filter((p) => p.phase === 'baseline');
    const final = progress.filter((p) => p.phase === 'final');
    expect(baseline.length).toBeGreaterThanOrEqual(7); // the announcement and one per example
    expect(final.length).toBeGreaterThanOrEqual(7);
    expect(baseline.at(-1)!.calls).toBe(6);
    expect(final.at(-1)!.calls).toBe(FULL_RUN_CALLS);
    const done = progress.at(-1)!;
    expect(done).toMatchObject({ phase: 'done', score: r.bestScore, bestScore: r.bestScore, message: r.optimizedYamlPath, calls: FULL_RUN_CALLS });
  });
});

describe('the dry run', () => {
  it('counts every LLM step of the pipeline: two steps, two calls per held-out example and per optimizer forward', async () => {
    const d = (await optimizeRun(refactoring({}), inProcessHost())) as OptimizeDryRunResult;
    expect(d.estimate.calls.baseline).toBe(12); // 6 held-out examples x 2 LLM steps
    expect(d.estimate.calls.final).toBe(12);
    const two = (await optimizeRun(refactoring({ callsPerForward: 2 }), inProcessHost())) as OptimizeDryRunResult;
    expect(d.estimate.calls.optimizer).toEqual(two.estimate.calls.optimizer);
    // An explicit callsPerForward is the caller's to set.
    const one = (await optimizeRun(refactoring({ callsPerForward: 1 }), inProcessHost())) as OptimizeDryRunResult;
    expect(one.estimate.calls.optimizer.expected).toBeLessThan(d.estimate.calls.optimizer.expected);
    // Optimizing one step of two: each forward still runs (and calls the LM for) both.
    const step = (options: Record<string, unknown>) => ({ ...refactoring(options), steps: ['generate_refactoring_plan'] });
    const oneStep = (await optimizeRun(step({}), inProcessHost())) as OptimizeDryRunResult;
    const oneStepTwoCalls = (await optimizeRun(step({ callsPerForward: 2 }), inProcessHost())) as OptimizeDryRunResult;
    expect(oneStep.estimate.calls.optimizer).toEqual(oneStepTwoCalls.estimate.calls.optimizer);
  });

  it('on a priced model the estimate carries its cost', async () => {
    const d = (await optimizeRun(
      codeAnalysisParams({ lm: 'openai:http://127.0.0.1:9/v1#claude-haiku-4-5', optimizer: { name: 'MIPROv2', options: { dryRun: true } } }),
      inProcessHost(),
    )) as OptimizeDryRunResult;
    expect(d.estimate.costUsd!.expected).toBeGreaterThan(0);
    expect(d.estimate.costUsd!.max).toBeGreaterThanOrEqual(d.estimate.costUsd!.expected);
  });
});
