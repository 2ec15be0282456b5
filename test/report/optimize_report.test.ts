/**
 * Every optimize run writes its run.json and HTML report into its run directory (issue #17
 * item 3), through the real sidecar with candidates executed the way Elixir's Reference
 * executor does; `report: false` writes neither.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RunRecord } from '../../src/report/run_record.js';
import { ROOT } from '../support/build.js';
import { FakeElixir, serveReferenceExecutions } from '../support/fake_elixir.js';

const PIPELINE = join(ROOT, 'examples/code_analysis/pipeline.yaml');
const DATA = join(ROOT, 'examples/code_analysis/training_data');

let elixir: FakeElixir;
let out: string;
beforeEach(async () => {
  out = mkdtempSync(join(tmpdir(), 'elexirion-report-run-'));
  elixir = new FakeElixir();
  serveReferenceExecutions(elixir);
  await elixir.initialize();
});
afterEach(async () => {
  await elixir.close();
});

const params = (extra: Record<string, unknown> = {}) => ({
  pipeline: { path: PIPELINE },
  trainingData: { dir: DATA },
  lm: 'offline',
  optimizer: { name: 'BootstrapFewShot', options: { maxBootstrappedDemos: 3 } },
  seed: 7,
  outDir: out,
  runId: 'run-report',
  ...extra,
});

describe('the report of an optimize run', () => {
  it('is written into the run directory with run.json, and its path is in the result', async () => {
    const r = await elixir.request('optimize', params());
    expect(r.error).toBeUndefined();
    const runDir = join(out, '.elexirion/runs/run-report');
    expect(r.result.reportPath).toBe(join(runDir, 'report.html'));
    expect(existsSync(r.result.reportPath)).toBe(true);
    const record = RunRecord.parse(JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8')));
    expect(record.settings).toMatchObject({ optimizer: 'BootstrapFewShot', seed: 7, lm: 'offline', metric: 'composite', pipeline: 'code_analysis' });
    expect(record.verdict).toEqual(r.result.verdict);
    // Per held-out example, by its training-data id; baseline and best are the verdict's scores.
    expect(record.examples).toHaveLength(r.result.verdict.heldOut);
    expect(record.examples.every((e) => typeof e.id === 'string' && e.id.startsWith('ca'))).toBe(true);
    const mean = (xs: number[]) => Math.round((100 * xs.reduce((a, b) => a + b, 0) * 100) / xs.length) / 100;
    expect(mean(record.examples.map((e) => e.baseline))).toBeCloseTo(r.result.baselineScore, 1);
    expect(mean(record.examples.map((e) => e.best))).toBeCloseTo(r.result.bestScore, 1);
    // The predictor as written into the config: its demos are the program's.
    const [path] = Object.keys(r.result.program).filter((k) => k !== 'metadata');
    const p = record.predictors.find((x) => x.path === path);
    expect(p?.after.demos).toEqual(r.result.program[path!].demos);
    expect(record.timeline.length).toBeGreaterThan(0);
    const html = readFileSync(r.result.reportPath, 'utf8');
    expect(html).toContain('Optimization run run-report');
  });

  it('is not written with report: false', async () => {
    const r = await elixir.request('optimize', params({ report: false }));
    expect(r.error).toBeUndefined();
    expect(r.result.reportPath).toBeUndefined();
    expect(existsSync(join(out, '.elexirion/runs/run-report/report.html'))).toBe(false);
    expect(existsSync(join(out, '.elexirion/runs/run-report/run.json'))).toBe(false);
  });
});
