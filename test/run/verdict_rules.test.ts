// decideVerdict's rules beyond improved / not improved: what writeAnyway does in each case,
// the scale a user reads the scores on, and the evidence the reason states.
import { describe, expect, it } from 'vitest';
import { decideVerdict, scaleOf } from '../../src/run/index.js';

const base = { metric: 'm', baselineScore: 0, seed: 1, writeAnyway: false, runId: 'r' };

describe('the verdict', () => {
  it('writeAnyway writes a noisy result and says so; a real improvement is written without it', () => {
    const noisy = { ...base, baseline: [0, 0, 0, 0, 0, 0], best: [1, 0, 0, 0, 0, 0], bestScore: 16.67 };
    const v = decideVerdict({ ...noisy, writeAnyway: true });
    expect(v).toMatchObject({ improved: false, written: true });
    expect(v.reason).toMatch(/^lift \+16\.67 points, 95% interval \[\+0\.00, \+50\.00\] over 6 held-out examples does not lie above 0.*written anyway/);
    const up = decideVerdict({ ...base, baseline: [0, 0, 0, 0, 0, 0], best: [1, 1, 1, 1, 1, 1], bestScore: 100 });
    expect(up).toMatchObject({ improved: true, written: true, lift: 100, ci95: [100, 100] });
    expect(up.reason).toMatch(/lies above 0: the optimized pipeline is better, written$/);
  });

  it('a lower score reads with its minus sign', () => {
    const v = decideVerdict({ ...base, baseline: [1, 1, 1, 1], best: [0, 0, 1, 1], baselineScore: 100, bestScore: 50 });
    expect(v.reason).toMatch(/^lift -50\.00 points, 95% interval \[-100\.00, /);
    expect(v.reason).toMatch(/nothing written \(writeAnyway writes it regardless\)$/);
  });

  it('cut short before the result was scored: written only when asked, never called an improvement', () => {
    const cut = { ...base, baseline: [0, 1], best: undefined, bestScore: 50 };
    const anyway = decideVerdict({ ...cut, writeAnyway: true });
    expect(anyway).toMatchObject({ improved: false, written: true, lift: 0, ci95: [0, 0], bestScore: 50, heldOut: 2 });
    expect(anyway.reason).toMatch(/^the run was cut short \(stopped\) before .*no evidence it is better; written anyway as asked$/);
    const not = decideVerdict(cut);
    expect(not.written).toBe(false);
    expect(not.reason).toMatch(/nothing was written; resume it with runId r$/);
  });

  it('lift and interval are rounded to two decimals, in points', () => {
    const v = decideVerdict({ ...base, baseline: [0, 0, 0], best: [1, 1, 0], bestScore: 66.666666 });
    expect(v.lift).toBe(66.67);
    for (const x of v.ci95) expect(Math.round(x * 100) / 100).toBe(x);
  });

  it('the scale says pass rate for 0/1 metrics, mean score otherwise', () => {
    expect(scaleOf([0, 1, 1])).toBe('0-100: percent of held-out examples that pass the metric');
    expect(scaleOf([0, 0.5])).toBe('0-100: mean metric score over held-out examples, in percent');
    const v = decideVerdict({ ...base, baseline: [0, 1], best: [0.5, 1], bestScore: 75 });
    expect(v.scale).toBe('0-100: mean metric score over held-out examples, in percent');
    const cut = decideVerdict({ ...base, baseline: [0, 1], best: undefined, bestScore: 50 });
    expect(cut.scale).toBe('0-100: percent of held-out examples that pass the metric');
    expect(cut.metric).toBe('m');
    expect(cut.baselineScore).toBe(0);
  });

  it('the interval is seeded: the same run gives the same verdict, another seed may resample differently', () => {
    const baseline = Array.from({ length: 20 }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const best = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 1 : 0));
    const v = (seed: number) => decideVerdict({ ...base, seed, baseline, best, baselineScore: 35, bestScore: 50 });
    expect(v(7)).toEqual(v(7));
    const intervals = new Set([1, 2, 3, 4, 5, 6, 7, 8].map((seed) => JSON.stringify(v(seed).ci95)));
    expect(intervals.size).toBeGreaterThan(1);
    for (const seed of [1, 2, 3]) {
      const [lo, hi] = v(seed).ci95;
      expect(lo).toBeLessThanOrEqual(15);
      expect(hi).toBeGreaterThanOrEqual(15);
    }
  });
});
