// optimizeRun in process, for what a caller relies on beyond the verdict: the dry run, the
// default optimizer and its spellings, the order of progress phases, a budget cut, cancellation.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { OptimizeDryRunResult, OptimizeRunResult, RunProgress } from '../../src/protocol/run.js';
import { optimizeRun } from '../../src/run/index.js';
import { codeAnalysisParams, inProcessHost } from './helpers.js';

describe('optimizeRun', () => {
  it('a MIPROv2 dry run estimates the optimizer plus both scoring passes, executes and writes nothing', async () => {
    const host = inProcessHost();
    const progress: RunProgress[] = [];
    host.progress = (v) => progress.push(v);
    const params = codeAnalysisParams({ optimizer: { name: 'mipro_v2', options: { auto: 'light', dryRun: true } } });
    const r = (await optimizeRun(params, host)) as OptimizeDryRunResult;
    expect(r.dryRun).toBe(true);
    const { calls } = r.estimate;
    expect(calls.baseline).toBe(6); // 6 held-out examples x 1 LLM step
    expect(calls.final).toBe(6);
    expect(calls.total.expected).toBe(calls.optimizer.expected + 12);
    expect(calls.total.max).toBe(calls.optimizer.max + 12);
    expect(r.estimate.summary).toMatch(/plus 12 LM calls to score the pipeline before and after$/);
    expect(host.executions).toBe(0);
    expect(progress.map((p) => p.phase)).toEqual(['dry_run']);
    expect(existsSync(join(params.outDir!, 'pipelines'))).toBe(false);
  });

  it('runs BootstrapFewShot when no optimizer is named, and accepts dryRun: false for any optimizer', async () => {
    const r = (await optimizeRun(codeAnalysisParams({ optimizer: { name: 'bootstrap_few_shot', options: { dryRun: false } } }), inProcessHost())) as OptimizeRunResult;
    expect(r.trials).toEqual([]);
    const d = (await optimizeRun(codeAnalysisParams(), inProcessHost())) as OptimizeRunResult;
    expect(d.program).toEqual(r.program);
  });

  it('reports the phases in run order: baseline, the optimizer, compiled (not done), final, done', async () => {
    const host = inProcessHost();
    const phases: string[] = [];
    host.progress = (v) => phases.push(v.phase);
    const r = (await optimizeRun(codeAnalysisParams(), host)) as OptimizeRunResult;
    const order = phases.filter((p, i) => p !== phases[i - 1]);
    expect(order[0]).toBe('baseline');
    expect(order.at(-1)).toBe('done');
    expect(phases.filter((p) => p === 'done')).toHaveLength(1);
    expect(order.indexOf('compiled')).toBeLessThan(order.indexOf('final'));
    expect(order.indexOf('bootstrap')).toBeGreaterThan(0);
    expect(order.indexOf('bootstrap')).toBeLessThan(order.indexOf('compiled'));
    expect(r.cutShort).toBe(false);
    expect(r.resumed).toBeUndefined();
  });

  it('a budget that runs out while optimizing ends cut short: nothing written, the verdict says resume', async () => {
    const params = codeAnalysisParams({ budget: { maxCalls: 8 }, runId: 'short' });
    const r = (await optimizeRun(params, inProcessHost())) as OptimizeRunResult;
    expect(r.cutShort).toBe(true);
    expect(r.cutShortReason).toMatch(/^budget/);
    expect(r.verdict).toMatchObject({ improved: false, written: false, lift: 0 });
    expect(r.verdict!.reason).toContain('runId short');
    expect(r.optimizedYamlPath).toBeUndefined();
    expect(r.usage.calls).toBeLessThanOrEqual(8);
  });

  it('a cancelled run throws rather than returning a result', async () => {
    const host = inProcessHost();
    const ac = new AbortController();
    host.signal = ac.signal;
    host.progress = (v) => {
      if (v.phase === 'compiled') ac.abort(new Error('cancelled by the caller'));
    };
    await expect(optimizeRun(codeAnalysisParams(), host)).rejects.toThrow('cancelled by the caller');
  });

  it('a run cancelled while optimizing throws the reason too, rather than ending cut short', async () => {
    const host = inProcessHost();
    const ac = new AbortController();
    host.signal = ac.signal;
    host.progress = (v) => {
      if (v.phase === 'bootstrap') ac.abort(new Error('cancelled mid-bootstrap'));
    };
    await expect(optimizeRun(codeAnalysisParams(), host)).rejects.toThrow('cancelled mid-bootstrap');
    expect(host.executions).toBeLessThan(19);
  });

  it("returns the optimizer's trials and the best score it scored on the held-out examples", async () => {
    const r = (await optimizeRun(
      codeAnalysisParams({ optimizer: { name: 'random_search', options: { numCandidatePrograms: 0, maxBootstrappedDemos: 2, maxLabeledDemos: 2 } } }),
      inProcessHost(),
    )) as OptimizeRunResult;
    expect(r.trials.map((t) => [t.kind, t.seed])).toEqual([
      ['candidate', -3],
      ['candidate', -2],
      ['candidate', -1],
    ]);
    expect(r.bestScore).toBe(r.verdict!.bestScore);
    expect(r.baselineScore).toBe(r.verdict!.baselineScore);
  });
});

