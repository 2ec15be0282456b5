// What an optimize run leaves in its run directory for people to read afterwards: run.json
// (settings as the user gave them, the verdict, each held-out example's scores) and the HTML
// report, unless `report: false`; and a report that cannot be written never fails the run.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { OptimizeRunResult } from '../../src/protocol/run.js';
import { optimizeRun } from '../../src/run/index.js';
import { codeAnalysisParams, inProcessHost } from './helpers.js';

const runDir = (outDir: string, runId: string) => join(outDir, '.elexirion', 'runs', runId);

describe('the run record', () => {
  it('run.json holds the settings as given, the verdict and each held-out example; report.html sits beside it', async () => {
    const params = codeAnalysisParams({
      runId: 'rec',
      optimizer: { name: 'bootstrap_few_shot', options: { maxBootstrappedDemos: 2 } },
      budget: { maxCalls: 500 },
    });
    const r = (await optimizeRun(params, inProcessHost())) as OptimizeRunResult;
    const dir = runDir(params.outDir!, 'rec');
    expect(r.reportPath).toBe(join(dir, 'report.html'));
    expect(existsSync(r.reportPath!)).toBe(true);
    const rec = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
    expect(rec.runId).toBe('rec');
    expect(rec.settings).toEqual({
      optimizer: 'BootstrapFewShot',
      options: { maxBootstrappedDemos: 2 },
      seed: 1,
      lm: 'offline',
      metric: 'composite',
      budget: { maxCalls: 500 },
      pipeline: 'code_analysis',
    });
    expect(rec.verdict).toEqual(r.verdict);
    expect(rec.examples).toHaveLength(6);
    expect(rec.examples.every((e: { id: unknown }) => typeof e.id === 'string')).toBe(true);
    // The per-example scores behind the verdict: their means are the two scores.
    const mean = (k: 'baseline' | 'best') => (100 * rec.examples.reduce((a: number, e: Record<string, number>) => a + e[k]!, 0)) / 6;
    expect(mean('baseline')).toBeCloseTo(r.baselineScore, 1);
    expect(mean('best')).toBeCloseTo(r.bestScore, 1);
    // The demos the run wrote, per predictor, before and after.
    expect(rec.predictors.length).toBeGreaterThan(0);
    expect(rec.predictors[0].before.demos).toEqual([]);
    expect(rec.predictors[0].after.demos.length).toBeGreaterThan(0);
  });

  it('report: false writes neither run.json nor the report, and the result names none', async () => {
    const params = codeAnalysisParams({ runId: 'norec', report: false });
    const host = inProcessHost();
    const phases: string[] = [];
    const warnings: unknown[] = [];
    host.progress = (v) => phases.push(v.phase);
    host.logger = { warn: (obj: unknown) => warnings.push(obj), info() {}, debug() {}, error() {}, trace() {}, fatal() {} } as never;
    const r = (await optimizeRun(params, host)) as OptimizeRunResult;
    expect(phases.at(-1)).toBe('done'); // progress still reaches the caller
    expect(phases).toContain('baseline');
    expect(warnings).toEqual([]);
    expect(r.reportPath).toBeUndefined();
    expect(existsSync(join(runDir(params.outDir!, 'norec'), 'run.json'))).toBe(false);
    expect(existsSync(join(runDir(params.outDir!, 'norec'), 'report.html'))).toBe(false);
    expect(r.verdict?.written).toBe(true); // the outputs themselves are unaffected
  });

  it('a report that cannot be written is logged and left out; the run still returns and writes its outputs', async () => {
    const params = codeAnalysisParams({ runId: 'badrec' });
    // A directory where report.html would go: the atomic rename onto it fails.
    mkdirSync(join(runDir(params.outDir!, 'badrec'), 'report.html'), { recursive: true });
    const host = inProcessHost();
    const warnings: unknown[] = [];
    host.logger = { warn: (obj: unknown) => warnings.push(obj), info() {}, debug() {}, error() {}, trace() {}, fatal() {} } as never;
    const r = (await optimizeRun(params, host)) as OptimizeRunResult;
    expect(r.reportPath).toBeUndefined();
    expect(r.verdict?.written).toBe(true);
    expect(existsSync(r.optimizedYamlPath!)).toBe(true);
    expect(warnings).toEqual([expect.objectContaining({ runDir: runDir(params.outDir!, 'badrec') })]);
  });

  it('without a logger, a report that cannot be written is left out all the same', async () => {
    const params = codeAnalysisParams({ runId: 'badrec2' });
    mkdirSync(join(runDir(params.outDir!, 'badrec2'), 'report.html'), { recursive: true });
    const r = (await optimizeRun(params, inProcessHost())) as OptimizeRunResult;
    expect(r.reportPath).toBeUndefined();
    expect(existsSync(r.optimizedYamlPath!)).toBe(true);
  });
});
