import { describe, it, expect } from 'vitest';
import { decidePromotion, shouldOptimize, promptDiff, DEFAULT_POLICY } from '../../src/learning/index.js';
import { bootstrapMeanInterval, DEFAULT_GUARD } from '../../src/learning/promotion_guard.js';
import { Rng } from '../../src/util/rng.js';
import { diffLines } from '../../src/util/line_diff.js';

/** A seeded stream of floats in [0, 1). */
function uniform(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.random();
}

function scores(n: number, seed: number) {
  const rng = uniform(seed);
  return Array.from({ length: n }, () => (rng() < 0.6 ? 1 : 0) * 0.7 + rng() * 0.3);
}

describe('promotion guard', () => {
  it('promotes a real improvement', () => {
    const cur = scores(60, 1);
    const rng = uniform(2);
    const cand = cur.map((x) => Math.min(1, x + 0.1 + (rng() - 0.5) * 0.1));
    const d = decidePromotion(cur, cand, { margin: 0.02, seed: 3 });
    expect(d.promote).toBe(true);
    expect(d.interval!.lower).toBeGreaterThan(0);
    expect(d.meanDiff!).toBeGreaterThan(0.05);
  });

  it('rejects noise of the same mean, for every seed tried', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const cur = scores(60, seed);
      const rng = uniform(seed + 100);
      // zero-mean noise: swap halves of a symmetric perturbation so mean(cand) == mean(cur)
      const noise = cur.map(() => (rng() - 0.5) * 0.6);
      const m = noise.reduce((a, b) => a + b, 0) / noise.length;
      const cand = cur.map((x, i) => x + noise[i]! - m);
      const d = decidePromotion(cur, cand, { margin: 0.01, seed });
      expect(d.promote).toBe(false);
      expect(Math.abs(d.meanDiff!)).toBeLessThan(1e-9);
    }
  });

  it('rejects a gain above the margin that the interval cannot tell from noise', () => {
    // mean +0.05, but one lucky example carries it
    const cur = Array.from({ length: 20 }, () => 0.5);
    const cand = cur.map((x, i) => (i === 0 ? x + 1 : x));
    const d = decidePromotion(cur, cand, { margin: 0.01 });
    expect(d.meanDiff).toBeCloseTo(0.05);
    expect(d.promote).toBe(false);
    expect(d.reason).toMatch(/interval/);
  });

  it('is deterministic for a seed, and refuses unpaired or tiny inputs', () => {
    const cur = scores(30, 5);
    const cand = cur.map((x, i) => x + (i % 3 === 0 ? 0.05 : 0));
    expect(decidePromotion(cur, cand, { seed: 9 })).toEqual(decidePromotion(cur, cand, { seed: 9 }));
    expect(decidePromotion([1, 2], [1], {}).reason).toMatch(/not paired/);
    expect(decidePromotion([0, 0], [1, 1], {}).reason).toMatch(/only 2/);
    const strict = decidePromotion(cur, cand, { margin: 0.015, lowerBoundAboveMargin: true });
    expect(strict.promote).toBe(strict.interval!.lower > 0.015 && strict.meanDiff! > 0.015);
  });
});

describe('shouldOptimize', () => {
  it('fires below the baseline or on more than 10 new examples', () => {
    const usage = (rate: number | null) => ({ success_rate: rate, count: 10 });
    expect(shouldOptimize({ usage: usage(0.9), newExamplesSinceLast: 0 }, undefined).optimize).toBe(true);
    expect(shouldOptimize({ usage: usage(0.96), newExamplesSinceLast: 10 }, undefined).optimize).toBe(false);
    expect(shouldOptimize({ usage: usage(0.96), newExamplesSinceLast: 11 }, undefined).optimize).toBe(true);
    expect(shouldOptimize({ usage: usage(null), newExamplesSinceLast: 0 }, undefined).optimize).toBe(false);
    const baseline = { successRate: 0.8, lastOptimizedAt: 1, lastMode: 'light' as const, lastDecision: 'promoted', bestScore: 0.9 };
    expect(shouldOptimize({ usage: usage(0.85), newExamplesSinceLast: 0 }, baseline).optimize).toBe(false);
    expect(shouldOptimize({ usage: usage(0.75), newExamplesSinceLast: 0 }, baseline).reasons[0]).toMatch(/below baseline 0.800/);
    expect(shouldOptimize({ usage: usage(0.99), newExamplesSinceLast: 3 }, undefined, { ...DEFAULT_POLICY, minNewExamples: 2 }).optimize).toBe(true);
  });
});

describe('line diff', () => {
  it('is a minimal LCS diff', () => {
    const d = diffLines(['a', 'b', 'c', 'd'], ['a', 'x', 'c', 'd', 'e']);
    expect(d.map((l) => l.op + l.line)).toEqual([' a', '-b', '+x', ' c', ' d', '+e']);
  });

  it('reports two unrelated long texts as one replacement between their common ends', () => {
    const a = ['head', ...Array.from({ length: 3000 }, (_, i) => `a${i}`), 'tail'];
    const b = ['head', ...Array.from({ length: 3000 }, (_, i) => `b${i}`), 'tail'];
    const d = diffLines(a, b, 100);
    expect(d[0]).toEqual({ op: ' ', line: 'head' });
    expect(d.at(-1)).toEqual({ op: ' ', line: 'tail' });
    expect(d.filter((l) => l.op === '-').map((l) => l.line)).toEqual(a.slice(1, -1));
    expect(d.filter((l) => l.op === '+').map((l) => l.line)).toEqual(b.slice(1, -1));
    expect(d.findIndex((l) => l.op === '+')).toBe(3001); // every removal before the first addition
  });

  it('diffs instructions and demos of saved programs', () => {
    const cur = { analyze: { signature: { instructions: 'Find bugs.\nBe brief.' }, demos: [{ q: 1 }] } };
    const cand = { analyze: { signature: { instructions: 'Find bugs carefully.\nBe brief.' }, demos: [{ q: 1 }, { q: 2 }] } };
    expect(promptDiff(cur, cand)).toBe(
      ['## analyze', '-instructions: Find bugs.', '+instructions: Find bugs carefully.', ' instructions: Be brief.', ' demo: {"q":1}', '+demo: {"q":2}']
        .map((l) => (l.startsWith('#') ? ' ' + l : l))
        .join('\n'),
    );
  });
});

describe('promotion guard thresholds (each decides what reaches production)', () => {
  // 20 pairs: half improved by 0.5, half unchanged; mean gain exactly 0.25.
  const cur = Array.from({ length: 20 }, () => 0.5);
  const half = cur.map((x, i) => (i % 2 ? x + 0.5 : x));

  it('defaults: margin 0, 95% interval of 2000 seeded resamples, at least 5 pairs, bound 0', () => {
    expect(DEFAULT_GUARD).toEqual({ margin: 0, confidence: 0.95, resamples: 2000, seed: 1, minExamples: 5, lowerBoundAboveMargin: false });
  });

  it('promotes when the mean gain is above the margin and the interval\'s lower bound above 0', () => {
    const d = decidePromotion(cur, half, { margin: 0.2 });
    expect(d).toMatchObject({ promote: true, n: 20, margin: 0.2, currentMean: 0.5, candidateMean: 0.75, meanDiff: 0.25 });
    expect(d.interval).toEqual({ ...bootstrapMeanInterval(half.map((x, i) => x - cur[i]!), 0.95, 2000, 1), confidence: 0.95, resamples: 2000, seed: 1 });
    expect(d.reason).toBe(`mean improvement 0.2500 > margin 0.2000, 95% interval [${d.interval!.lower.toFixed(4)}, ${d.interval!.upper.toFixed(4)}] clears 0.0000`);
  });

  it('a mean gain equal to the margin is not above it', () => {
    const d = decidePromotion(cur, half, { margin: 0.25 });
    expect(d.promote).toBe(false);
    expect(d.reason).toBe('mean improvement 0.2500 is not above the margin 0.2500');
    expect(d.interval).not.toBeNull();
  });

  it('a lower bound of exactly 0 does not clear 0', () => {
    // One lucky example in 20: most resamples miss it, so the 2.5% quantile of the mean is 0.
    const lucky = cur.map((x, i) => (i === 0 ? x + 0.5 : x));
    const d = decidePromotion(cur, lucky, {});
    expect(d.interval!.lower).toBe(0);
    expect(d.meanDiff).toBeCloseTo(0.025, 12);
    expect(d.promote).toBe(false);
    expect(d.reason).toBe(`95% interval [0.0000, ${d.interval!.upper.toFixed(4)}] of the improvement does not clear 0.0000`);
  });

  it('with lowerBoundAboveMargin, the whole interval must clear the margin', () => {
    const loose = decidePromotion(cur, half, { margin: 0.2 });
    const strict = decidePromotion(cur, half, { margin: 0.2, lowerBoundAboveMargin: true });
    expect(loose.interval!.lower).toBeGreaterThan(0);
    expect(loose.interval!.lower).toBeLessThanOrEqual(0.2);
    expect(strict.promote).toBe(false);
    expect(strict.reason).toBe(`95% interval [${strict.interval!.lower.toFixed(4)}, ${strict.interval!.upper.toFixed(4)}] of the improvement does not clear 0.2000`);
    const clears = decidePromotion(cur, half, { margin: 0.1, lowerBoundAboveMargin: true });
    expect(clears.interval!.lower).toBeGreaterThan(0.1);
    expect(clears.promote).toBe(true);
    expect(clears.reason).toMatch(/ clears 0\.1000$/);
  });

  it('uses the confidence, resamples and seed it is given, and says which confidence', () => {
    const d = decidePromotion(cur, half, { confidence: 0.5, resamples: 101, seed: 4 });
    const diffs = half.map((x, i) => x - cur[i]!);
    expect(d.interval).toEqual({ ...bootstrapMeanInterval(diffs, 0.5, 101, 4), confidence: 0.5, resamples: 101, seed: 4 });
    expect(d.interval!.upper - d.interval!.lower).toBeLessThan(decidePromotion(cur, half).interval!.upper - decidePromotion(cur, half).interval!.lower);
    expect(d.reason).toMatch(/, 50% interval \[/);
  });

  it('needs at least minExamples pairs (5 by default): 5 is enough, 4 is not', () => {
    const five = decidePromotion([0, 0, 0, 0, 0], [1, 1, 1, 1, 1]);
    expect(five.promote).toBe(true);
    const four = decidePromotion([0.25, 0.25, 0.25, 0.25], [1, 1, 1, 1]);
    expect(four).toEqual({ promote: false, reason: 'only 4 held-out examples (< 5)', n: 4, margin: 0, currentMean: 0.25, candidateMean: 1, meanDiff: 0.75, interval: null });
    expect(decidePromotion([0, 0, 0, 0], [1, 1, 1, 1], { minExamples: 4 }).promote).toBe(true);
    expect(decidePromotion([], [])).toEqual({ promote: false, reason: 'only 0 held-out examples (< 5)', n: 0, margin: 0, currentMean: null, candidateMean: null, meanDiff: null, interval: null });
    // Nothing to compare is never a promotion, whatever the minimum.
    const none = decidePromotion([], [], { minExamples: 0 });
    expect(none.promote).toBe(false);
    expect(none.reason).toBe('mean improvement NaN is not above the margin 0.0000');
  });

  it('refuses unpaired lists and non-finite scores without computing anything', () => {
    expect(decidePromotion([1, 2, 3], [1, 2], { margin: 0.1 })).toEqual({
      promote: false,
      reason: 'score lists differ in length (3 vs 2): not paired',
      n: 3,
      margin: 0.1,
      currentMean: null,
      candidateMean: null,
      meanDiff: null,
      interval: null,
    });
    const five = [0, 0, 0, 0, 0];
    for (const bad of [NaN, Infinity, -Infinity]) {
      expect(decidePromotion([...five.slice(1), bad], [1, 1, 1, 1, 1])).toEqual({ promote: false, reason: 'non-finite score', n: 5, margin: 0, currentMean: null, candidateMean: null, meanDiff: null, interval: null });
      expect(decidePromotion(five, [1, 1, 1, 1, bad]).reason).toBe('non-finite score');
    }
  });

  it('a candidate that is worse is never promoted', () => {
    const worse = decidePromotion(half, cur, { margin: -1 });
    expect(worse.meanDiff).toBe(-0.25);
    expect(worse.promote).toBe(false);
  });
});
