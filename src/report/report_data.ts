/**
 * What the HTML report shows, derived from a run's `run.json`: the baseline's interval, the best
 * score so far per trial, spend per phase, the examples that flipped, and each predictor's
 * instruction diff. Pure functions; reading the run directory is in read_run_dir.ts.
 */
import { diffWords } from 'diff';
import { Rng } from '../util/rng.js';
import type { RunRecord, TimelinePoint } from './run_record.js';

export interface PhaseSpend {
  phase: string;
  calls: number;
  costUsd: number;
}

export interface FlippedExample {
  id: string | number;
  baseline: number;
  best: number;
  direction: 'fixed' | 'broken';
  input?: unknown;
}

export interface DiffPart {
  text: string;
  op: 'same' | 'added' | 'removed';
}

export interface ReportData {
  record: RunRecord;
  /** What the score chart plots (see chartTrials). */
  trials: RunRecord['trials'];
  /** Mean baseline score (0-100) with a 95% bootstrap interval over held-out examples. */
  baseline?: { mean: number; ci95: [number, number] };
  bestSoFar: number[];
  phases: PhaseSpend[];
  flipped: FlippedExample[];
  diffs: Array<{ path: string; parts: DiffPart[]; changed: boolean }>;
}

/** Percentile bootstrap of a mean (x100), seeded so the same run draws the same report. */
export function bootstrapMeanInterval(xs: readonly number[], samples = 2000, seed = 1): [number, number] {
  if (xs.length === 0) return [0, 0];
  const rng = new Rng(seed);
  const means: number[] = [];
  for (let s = 0; s < samples; s++) {
    let sum = 0;
    for (let i = 0; i < xs.length; i++) sum += xs[rng.int(xs.length)] as number;
    means.push((100 * sum) / xs.length);
  }
  means.sort((a, b) => a - b);
  const at = (q: number) => means[Math.min(means.length - 1, Math.max(0, Math.floor(q * means.length)))] as number;
  return [round2(at(0.025)), round2(at(0.975))];
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** Spend per phase: the growth of the cumulative counters while each phase was reporting. */
export function phaseSpend(timeline: readonly TimelinePoint[]): PhaseSpend[] {
  const by = new Map<string, PhaseSpend>();
  let prev = { calls: 0, costUsd: 0 };
  for (const p of timeline) {
    const row = by.get(p.phase) ?? { phase: p.phase, calls: 0, costUsd: 0 };
    row.calls += Math.max(0, p.calls - prev.calls);
    row.costUsd += Math.max(0, p.costUsd - prev.costUsd);
    by.set(p.phase, row);
    prev = { calls: Math.max(prev.calls, p.calls), costUsd: Math.max(prev.costUsd, p.costUsd) };
  }
  return [...by.values()];
}

/** Examples whose pass/fail changed between the baseline and the best program. */
export function flippedExamples(examples: RunRecord['examples'], threshold = 0.5): FlippedExample[] {
  const out: FlippedExample[] = [];
  for (const e of examples) {
    const was = e.baseline >= threshold;
    const now = e.best >= threshold;
    if (was === now) continue;
    out.push({ id: e.id, baseline: e.baseline, best: e.best, direction: now ? 'fixed' : 'broken', ...(e.input !== undefined ? { input: e.input } : {}) });
  }
  return out;
}

export function instructionDiff(before: string, after: string): DiffPart[] {
  return diffWords(before, after).map((c) => ({ text: c.value, op: c.added ? 'added' : c.removed ? 'removed' : 'same' }));
}

/**
 * The trials the score chart plots: the optimizer's own, or, for an optimizer that compiles in
 * one pass (BootstrapFewShot, LabeledFewShot: no trials), the baseline and the final score.
 */
export function chartTrials(record: RunRecord): RunRecord['trials'] {
  if (record.trials.length > 0) return record.trials;
  const out: RunRecord['trials'] = [];
  const base = record.verdict?.baselineScore ?? record.baselineScore;
  const best = record.verdict?.bestScore ?? record.bestScore;
  if (base !== undefined) out.push({ trial: 0, kind: 'baseline', score: base });
  if (best !== undefined) out.push({ trial: out.length, kind: 'final', score: best });
  return out;
}

export function reportData(record: RunRecord): ReportData {
  let best = -Infinity;
  const trials = chartTrials(record);
  const bestSoFar = trials.map((t) => (best = Math.max(best, t.score)));
  const baselines = record.examples.map((e) => e.baseline);
  const data: ReportData = {
    record,
    trials,
    bestSoFar,
    phases: phaseSpend(record.timeline),
    flipped: flippedExamples(record.examples),
    diffs: record.predictors.map((p) => ({
      path: p.path,
      parts: instructionDiff(p.before.instructions, p.after.instructions),
      changed: p.before.instructions !== p.after.instructions,
    })),
  };
  if (baselines.length) {
    data.baseline = { mean: round2((100 * baselines.reduce((a, b) => a + b, 0)) / baselines.length), ci95: bootstrapMeanInterval(baselines) };
  }
  return data;
}
