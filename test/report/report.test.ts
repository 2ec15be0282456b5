import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRunDir, ReportInputError } from '../../src/report/read_run_dir.js';
import { bootstrapMeanInterval, flippedExamples, instructionDiff, phaseSpend, reportData } from '../../src/report/report_data.js';
import { renderRunReport } from '../../src/report/html.js';
import { writeReport } from '../../src/report/write_report.js';
import { realRun } from './real_run.js';

let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'report-'));
  await realRun(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('report data', () => {
  it('reads the run record a real run wrote', async () => {
    const r = await readRunDir(dir);
    expect(r.settings.optimizer).toBe('GEPA');
    expect(r.trials.length).toBeGreaterThan(2);
    expect(r.examples).toHaveLength(12);
    expect(r.pareto?.candidates.length).toBeGreaterThan(1);
    expect(r.timeline.length).toBeGreaterThan(0);
  });

  it('finds the flipped examples both ways', () => {
    const f = flippedExamples([
      { id: 'a', baseline: 0, best: 1 },
      { id: 'b', baseline: 1, best: 1 },
      { id: 'c', baseline: 1, best: 0 },
      { id: 'd', baseline: 0.2, best: 0.4 },
    ]);
    expect(f.map((x) => [x.id, x.direction])).toEqual([
      ['a', 'fixed'],
      ['c', 'broken'],
    ]);
  });

  it('splits spend by phase from the cumulative timeline', () => {
    expect(
      phaseSpend([
        { t: 0, phase: 'baseline', calls: 2, costUsd: 0.1 },
        { t: 1, phase: 'baseline', calls: 5, costUsd: 0.2 },
        { t: 2, phase: 'trial', calls: 9, costUsd: 0.5 },
        { t: 3, phase: 'baseline', calls: 10, costUsd: 0.5 },
      ]).map((p) => [p.phase, p.calls, Number(p.costUsd.toFixed(2))]),
    ).toEqual([
      ['baseline', 6, 0.2],
      ['trial', 4, 0.3],
    ]);
  });

  it('gives the baseline an interval that holds its mean, and none wider than the data', () => {
    const [lo, hi] = bootstrapMeanInterval([0, 1, 0, 1, 1, 0, 1, 1]);
    expect(lo).toBeLessThanOrEqual(62.5);
    expect(hi).toBeGreaterThanOrEqual(62.5);
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThanOrEqual(100);
    expect(bootstrapMeanInterval([1, 1, 1])).toEqual([100, 100]);
  });

  it('diffs instructions word by word', () => {
    const parts = instructionDiff('Answer the question.', 'Answer the question. Rule for category 1.');
    expect(parts.filter((p) => p.op === 'added').map((p) => p.text).join('')).toContain('Rule for category 1.');
    expect(parts.filter((p) => p.op === 'removed')).toEqual([]);
  });
});

describe('report html', () => {
  it('is self-contained: uPlot and styles inline, no URL to fetch', async () => {
    const out = await writeReport(dir);
    const html = readFileSync(out, 'utf8');
    expect(out).toBe(join(dir, 'report.html'));
    expect(html).toContain('uPlot');
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/i);
    expect(html).toMatch(/Content-Security-Policy" content="default-src 'none'/);
    // Flipped examples, the instruction diff and the settings are in the page.
    expect(html).toMatch(/<div id="flipped">.*<tr class="fixed">/s);
    expect(html).toMatch(/<div class="diff" data-predictor="solve">.*<ins>/s);
    expect(html).toContain('simulated:rules-task');
  });

  it('escapes everything a run wrote (no markup from data)', async () => {
    const r = await readRunDir(dir);
    const evil = { ...r, runId: '<script>alert(1)</script>', predictors: r.predictors.map((p) => ({ ...p, after: { ...p.after, instructions: '</script><img src=x>' } })) };
    const html = renderRunReport(reportData(evil));
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(html).not.toContain('<img src=x>');
  });

  it('refuses a run record that does not fit its schema, naming the field', async () => {
    const bad = mkdtempSync(join(tmpdir(), 'report-bad-'));
    try {
      writeFileSync(join(bad, 'run.json'), JSON.stringify({ format: 1, runId: 'x', startedAt: 'now', settings: {}, trials: [] }));
      await expect(readRunDir(bad)).rejects.toThrow(/settings\.optimizer/);
      await expect(readRunDir(join(bad, 'missing'))).rejects.toBeInstanceOf(ReportInputError);
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });
});
