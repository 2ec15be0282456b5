/**
 * The learning policy (src/learning/policy.ts): when a pipeline is re-optimized, against which
 * baseline, and how the per-pipeline baselines are kept on disk. Every threshold and comparison
 * here decides whether a production pipeline is touched, so each one is pinned at its edge.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BaselineStore, DEFAULT_POLICY, shouldOptimize, type Baseline } from '../../src/learning/policy.js';

const usage = (rate: number | null) => ({ success_rate: rate, count: 20 });
const baseline = (successRate: number | null): Baseline => ({ successRate, lastOptimizedAt: 1, lastMode: 'full', lastDecision: 'promoted', bestScore: 0.9 });

describe('shouldOptimize', () => {
  it('defaults: a success rate below 0.95, or more than 10 new examples', () => {
    expect(DEFAULT_POLICY).toEqual({ baselineSuccessRate: 0.95, minNewExamples: 10 });
  });

  it('fires when the success rate is strictly below the threshold, not at it', () => {
    const at = shouldOptimize({ usage: usage(0.95), newExamplesSinceLast: 0 }, undefined);
    expect(at).toEqual({ optimize: false, reasons: [], threshold: 0.95 });
    const below = shouldOptimize({ usage: usage(0.9499), newExamplesSinceLast: 0 }, undefined);
    expect(below).toEqual({ optimize: true, reasons: ['success rate 0.950 below baseline 0.950'], threshold: 0.95 });
    expect(shouldOptimize({ usage: usage(0.5), newExamplesSinceLast: 0 }, undefined).reasons).toEqual(['success rate 0.500 below baseline 0.950']);
  });

  it('compares against the pipeline\'s own baseline once it has one, the configured rate before', () => {
    expect(shouldOptimize({ usage: usage(0.85), newExamplesSinceLast: 0 }, baseline(0.8))).toEqual({ optimize: false, reasons: [], threshold: 0.8 });
    expect(shouldOptimize({ usage: usage(0.79), newExamplesSinceLast: 0 }, baseline(0.8)).optimize).toBe(true);
    // A baseline that recorded no rate (no executions then) falls back to the configured one.
    expect(shouldOptimize({ usage: usage(0.9), newExamplesSinceLast: 0 }, baseline(null)).threshold).toBe(0.95);
    expect(shouldOptimize({ usage: usage(0.9), newExamplesSinceLast: 0 }, undefined, { baselineSuccessRate: 0.85, minNewExamples: 10 })).toEqual({
      optimize: false,
      reasons: [],
      threshold: 0.85,
    });
    // A baseline of 0 is a baseline (not "none"): nothing is below it.
    expect(shouldOptimize({ usage: usage(0), newExamplesSinceLast: 0 }, baseline(0))).toEqual({ optimize: false, reasons: [], threshold: 0 });
  });

  it('a window without executions is never a degradation', () => {
    expect(shouldOptimize({ usage: usage(null), newExamplesSinceLast: 0 }, baseline(0.99))).toEqual({ optimize: false, reasons: [], threshold: 0.99 });
  });

  it('fires on strictly more new examples than minNewExamples', () => {
    expect(shouldOptimize({ usage: usage(1), newExamplesSinceLast: 10 }, undefined).optimize).toBe(false);
    expect(shouldOptimize({ usage: usage(1), newExamplesSinceLast: 11 }, undefined)).toEqual({
      optimize: true,
      reasons: ['11 new examples since last optimization (> 10)'],
      threshold: 0.95,
    });
    expect(shouldOptimize({ usage: usage(1), newExamplesSinceLast: 3 }, undefined, { baselineSuccessRate: 0.95, minNewExamples: 2 }).reasons).toEqual([
      '3 new examples since last optimization (> 2)',
    ]);
  });

  it('gives every reason that holds', () => {
    expect(shouldOptimize({ usage: usage(0.2), newExamplesSinceLast: 50 }, baseline(0.6)).reasons).toEqual([
      'success rate 0.200 below baseline 0.600',
      '50 new examples since last optimization (> 10)',
    ]);
  });
});

describe('BaselineStore', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'policy-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('starts empty when the file does not exist, and knows no pipeline', async () => {
    const s = await BaselineStore.open(join(tmp(), 'baselines.json'));
    expect(s.get('p')).toBeUndefined();
    expect(s.all()).toEqual({});
  });

  it('records a run over the empty baseline, persists it, and reads it back after a reopen', async () => {
    const path = join(tmp(), 'baselines.json');
    const s = await BaselineStore.open(path);
    const b = await s.update('p', { successRate: 0.8, lastOptimizedAt: 100, lastMode: 'light' });
    expect(b).toEqual({ successRate: 0.8, lastOptimizedAt: 100, lastMode: 'light', lastDecision: null, bestScore: null });
    const next = await s.update('p', { lastDecision: 'rejected', bestScore: 0.7, lastMode: 'full' });
    expect(next).toEqual({ successRate: 0.8, lastOptimizedAt: 100, lastMode: 'full', lastDecision: 'rejected', bestScore: 0.7 });
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ version: 1, pipelines: { p: next } });
    const reopened = await BaselineStore.open(path);
    expect(reopened.get('p')).toEqual(next);
    expect(reopened.all()).toEqual({ p: next });
  });

  it('hands out copies: changing one does not change the store', async () => {
    const s = await BaselineStore.open(join(tmp(), 'baselines.json'));
    const b = await s.update('p', { successRate: 0.5 });
    b.successRate = 0.1;
    const got = s.get('p') as Baseline;
    got.successRate = 0.2;
    const all = s.all();
    (all['p'] as Baseline).successRate = 0.3;
    expect(s.get('p')?.successRate).toBe(0.5);
  });

  it('refuses an invalid patch, and a file that is not a baselines file, naming the file', async () => {
    const dir = tmp();
    const s = await BaselineStore.open(join(dir, 'baselines.json'));
    await expect(s.update('p', { lastMode: 'heavy' as 'light' })).rejects.toThrow();
    expect(s.get('p')).toBeUndefined();
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ version: 2, pipelines: {} }));
    await expect(BaselineStore.open(bad)).rejects.toThrow(`${bad}: invalid baselines file`);
  });

  it('keeps every update when several are made at once (writes are serialised)', async () => {
    const path = join(tmp(), 'baselines.json');
    const s = await BaselineStore.open(path);
    await Promise.all(Array.from({ length: 8 }, (_, i) => s.update(`p${i}`, { successRate: i / 10 })));
    const onDisk = JSON.parse(readFileSync(path, 'utf8')) as { pipelines: Record<string, Baseline> };
    expect(Object.keys(onDisk.pipelines).sort()).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']);
    expect(onDisk.pipelines['p7']?.successRate).toBe(0.7);
  });

  it('a failed write does not block the writes after it', async () => {
    const dir = tmp();
    const path = join(dir, 'baselines.json');
    const s = await BaselineStore.open(path);
    mkdirSync(path); // a directory where the file should be: the rename fails
    await expect(s.update('p', { successRate: 0.4 })).rejects.toThrow();
    rmSync(path, { recursive: true });
    await s.update('q', { successRate: 0.6 });
    const onDisk = JSON.parse(readFileSync(path, 'utf8')) as { pipelines: Record<string, Baseline> };
    expect(onDisk.pipelines['q']?.successRate).toBe(0.6);
  });
});
