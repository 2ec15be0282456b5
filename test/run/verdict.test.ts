import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Example, Predict } from '../../src/dspy/index.js';
import { getMetric } from '../../src/pipeline/metrics/index.js';
import type { OptimizeRunResult } from '../../src/protocol/run.js';
import { decideVerdict, dropFailingDemos, optimizeRun, RunFailedError } from '../../src/run/index.js';
import { codeAnalysisParams, inProcessHost } from './helpers.js';

// The verdict a user acts on: written only when the lift is above noise, never from a metric
// that cannot score or executions that all failed, and never with a demo that fails the metric.
const runResult = async (params: ReturnType<typeof codeAnalysisParams>) =>
  (await optimizeRun(params, inProcessHost())) as OptimizeRunResult;

describe('the verdict', () => {
  it('a run with no real lift writes nothing and says why; writeAnyway writes it', async () => {
    const params = codeAnalysisParams({ optimizer: { name: 'BootstrapFewShot', options: { maxBootstrappedDemos: 2, maxLabeledDemos: 6 } } });
    const r = await runResult(params);
    expect(r.verdict).toMatchObject({ metric: 'composite', heldOut: 6, improved: false, written: false });
    expect(r.verdict!.ci95[0]).toBeLessThanOrEqual(0);
    expect(r.verdict!.reason).toMatch(/does not lie above 0.*nothing written/);
    expect(r.optimizedYamlPath).toBeUndefined();
    expect(existsSync(join(params.outDir!, 'pipelines'))).toBe(false);
    expect(existsSync(join(params.outDir!, 'optimized_modules'))).toBe(false);

    const anyway = await runResult({ ...params, writeAnyway: true, runId: 'anyway' });
    expect(anyway.verdict).toMatchObject({ improved: false, written: true });
    expect(anyway.verdict!.reason).toMatch(/written anyway/);
    expect(existsSync(anyway.optimizedYamlPath!)).toBe(true);
  });

  it('a real lift is written, with its interval above 0', async () => {
    const r = await runResult(codeAnalysisParams());
    expect(r.verdict).toMatchObject({ improved: true, written: true, heldOut: 6 });
    expect(r.verdict!.scale).toBe('0-100: percent of held-out examples that pass the metric');
    expect(r.verdict!.ci95[0]).toBeGreaterThan(0);
    expect(r.verdict!.ci95[1]).toBeGreaterThanOrEqual(r.verdict!.lift);
    expect(existsSync(r.optimizedYamlPath!)).toBe(true);
  });

  it('an unparseable judge stops the run with its reason before optimizing, writing nothing', async () => {
    const params = codeAnalysisParams({ metric: { name: 'code_analysis_judge' } });
    const host = inProcessHost();
    const err = await optimizeRun(params, host).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunFailedError);
    expect(err).toMatchObject({ reason: 'metric_cannot_score', phase: 'baseline' });
    expect((err as Error).message).toMatch(/code_analysis_judge could not score 6 of 6 held-out examples/);
    expect((err as Error).message).toMatch(/the judge's (output could not be parsed|score .* is not a number)/);
    expect(host.executions).toBe(6); // the baseline only: nothing was optimized
    expect(existsSync(join(params.outDir!, 'pipelines'))).toBe(false);
  });

  it('executions that all fail stop the run with the error, writing nothing', async () => {
    const host = inProcessHost(async () => ({ status: 'error', steps: {}, output: null, durationMs: 1, error: 'claude CLI not found' }));
    const params = codeAnalysisParams();
    const err = await optimizeRun(params, host).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunFailedError);
    expect(err).toMatchObject({ reason: 'executions_failed', phase: 'baseline' });
    expect((err as Error).message).toMatch(/every execution failed on the 6 held-out examples.*claude CLI not found/);
    expect(host.executions).toBe(6);
    expect(readdirSync(params.outDir!).filter((f) => f !== '.elexirion')).toEqual([]);
  });
});

describe('demos are checked against the metric before anything is written', () => {
  it('drops every bootstrapped demo whose output fails the metric, with the trace; keeps labeled ones', async () => {
    const make = (code: string, findings: string[]) =>
      new Example({ code, findings, expected_output: { findings } }).withInputs('code');
    const a = make('defmodule A do end', ['Agent started without supervision']);
    const b = make('defmodule B do end', ['String.to_atom on user input leaks atoms']);
    const p = new Predict('code -> findings: list[str]');
    p.demos = [
      new Example({ augmented: true, code: 'defmodule A do end', findings: ['String.to_atom on user input leaks atoms'] }), // B's answer for A
      new Example({ augmented: true, code: 'defmodule B do end', findings: ['String.to_atom on user input leaks atoms'] }),
      new Example({ code: 'defmodule C do end', findings: ['anything'] }), // labeled: an example itself
    ];
    const traces: unknown[] = [];
    const metric = getMetric('findings_f1', { passAt: 0.5 });
    const check = await dropFailingDemos(p, [a, b], (ex, pred, trace) => {
      traces.push(trace);
      return metric(ex, pred, trace);
    }, undefined);
    expect(check).toEqual({ checked: 2, dropped: 1 });
    expect(p.demos.map((d) => d.get('code'))).toEqual(['defmodule B do end', 'defmodule C do end']);
    expect(traces.every((t) => Array.isArray(t) && t.length === 1)).toBe(true);
  });
});

describe('decideVerdict', () => {
  const base = { metric: 'm', baselineScore: 0, seed: 1, writeAnyway: false, runId: 'r' };
  it('an interval above 0 is an improvement; one that touches 0 is not', () => {
    const up = decideVerdict({ ...base, baseline: [0, 0, 0, 0, 0, 0], best: [1, 1, 1, 1, 1, 0], bestScore: 83.33 });
    expect(up).toMatchObject({ improved: true, written: true, lift: 83.33, heldOut: 6 });
    expect(up.ci95[0]).toBeGreaterThan(0);
    const noise = decideVerdict({ ...base, baseline: [0, 0, 0, 0, 0, 0], best: [1, 0, 0, 0, 0, 0], bestScore: 16.67 });
    expect(noise).toMatchObject({ improved: false, written: false, ci95: [0, 50] });
    const worse = decideVerdict({ ...base, baseline: [1, 1, 1, 1], best: [0, 0, 1, 1], baselineScore: 100, bestScore: 50 });
    expect(worse).toMatchObject({ improved: false, written: false, lift: -50 });
    expect(worse.ci95[1]).toBeLessThanOrEqual(0);
  });
  it('a run cut short before scoring the result concludes nothing and points at resume', () => {
    const v = decideVerdict({ ...base, baseline: [0, 1], best: undefined, bestScore: 50, cutShortReason: 'budget: calls' });
    expect(v).toMatchObject({ improved: false, written: false, lift: 0 });
    expect(v.reason).toMatch(/cut short \(budget: calls\).*resume it with runId r/);
  });
});

describe('no stand-in instruction is ever written', () => {
  it('offline MIPROv2 proposes no instruction rather than a placeholder', async () => {
    const params = codeAnalysisParams({ optimizer: { name: 'MIPROv2', options: { auto: 'light' } }, writeAnyway: true });
    const r = await runResult(params);
    const json = JSON.stringify(r.program) + JSON.stringify(r.optimizedConfig);
    expect(json).not.toMatch(/proposed_instruction-[0-9a-f]{8}/);
    expect(json).not.toMatch(/summary-[0-9a-f]{8}/);
  }, 60_000);
});
