import { describe, expect, it } from 'vitest';
import { CategoricalTPE, Rng } from '../../src/optimizers/index.js';

describe('seeded randomness', () => {
  it('Rng is deterministic per seed and samples without replacement', () => {
    const a = new Rng(5);
    const b = new Rng(5);
    const items = Array.from({ length: 20 }, (_, i) => i);
    expect(a.sample(items, 7)).toEqual(b.sample(items, 7));
    expect(new Set(new Rng(1).sample(items, 20)).size).toBe(20);
    expect(new Rng(1).shuffle([...items])).not.toEqual(new Rng(2).shuffle([...items]));
  });

  it('TPE is reproducible and concentrates on the best region after its startup trials', () => {
    const objective = (p: Record<string, number>) => (p.a === 3 ? 1 : 0) + (p.b === 1 ? 1 : 0);
    const run = () => {
      const tpe = new CategoricalTPE({ a: 6, b: 4 }, { seed: 9, nStartupTrials: 8 });
      const picks: Array<Record<string, number>> = [];
      for (let t = 0; t < 40; t++) {
        const p = tpe.suggest();
        picks.push(p);
        tpe.tell(p, objective(p));
      }
      return picks;
    };
    const picks = run();
    expect(run()).toEqual(picks);
    const late = picks.slice(20);
    expect(late.filter((p) => objective(p) === 2).length).toBeGreaterThan(10);
  });
});

describe('CategoricalTPE', () => {
  const observe = (tpe: CategoricalTPE, n: number) => {
    // a = 2 scores 1, every other choice 0.
    for (let i = 0; i < n; i++) tpe.tell({ a: i % 5 }, i % 5 === 2 ? 1 : 0);
  };
  const suggestions = (tpe: CategoricalTPE, n: number) => Array.from({ length: n }, () => tpe.suggest().a);

  it('suggests uniformly for the first 10 observations (Optuna default), then models the best region', () => {
    const early = new CategoricalTPE({ a: 5 }, { seed: 4 });
    observe(early, 9);
    expect(new Set(suggestions(early, 30)).size).toBeGreaterThan(1);
    const modelled = new CategoricalTPE({ a: 5 }, { seed: 4 });
    observe(modelled, 10);
    expect(modelled.size).toBe(10);
    expect(suggestions(modelled, 30).every((a) => a === 2)).toBe(true);
    const custom = new CategoricalTPE({ a: 5 }, { seed: 4, nStartupTrials: 5 });
    observe(custom, 5);
    expect(suggestions(custom, 30).every((a) => a === 2)).toBe(true);
  });

  it('every suggestion lies in the space', () => {
    const tpe = new CategoricalTPE({ a: 3, b: 1 }, { seed: 2, nStartupTrials: 2 });
    for (let t = 0; t < 30; t++) {
      const p = tpe.suggest();
      expect(p.a).toBeGreaterThanOrEqual(0);
      expect(p.a).toBeLessThan(3);
      expect(p.b).toBe(0);
      tpe.tell(p, p.a === 1 ? 1 : 0);
    }
  });

  it('refuses a parameter with no choice', () => {
    expect(() => new CategoricalTPE({ a: 0 }, { seed: 1 })).toThrow(RangeError);
    expect(() => new CategoricalTPE({ a: 1.5 }, { seed: 1 })).toThrow(RangeError);
    expect(() => new CategoricalTPE({ a: 1 }, { seed: 1 })).not.toThrow();
  });
});

describe('CategoricalTPE good and bad groups', () => {
  // Five observations of `a`, best first: a = 0 scores 5, ..., a = 4 scores 1.
  const ranked = (opts: Partial<ConstructorParameters<typeof CategoricalTPE>[1]> = {}) => {
    const tpe = new CategoricalTPE({ a: 5 }, { seed: 3, nStartupTrials: 0, ...opts });
    for (let c = 0; c < 5; c++) tpe.tell({ a: c }, 5 - c);
    return tpe;
  };
  const picks = (tpe: CategoricalTPE, n = 40) => new Set(Array.from({ length: n }, () => tpe.suggest().a));

  it("models the best gamma(n) observations as good (Optuna's default: 10%, at least one)", () => {
    expect(picks(ranked())).toEqual(new Set([0]));
    // gamma 0 still keeps the best observation as the good group
    expect(picks(ranked({ gamma: () => 0 }))).toEqual(new Set([0]));
  });

  it('keeps at least the worst observation in the bad group, whatever gamma asks', () => {
    const all = picks(ranked({ gamma: () => 100 }), 80);
    expect(all.has(4)).toBe(false);
    expect(all.size).toBeGreaterThan(1);
  });

  it('ranks equal scores by arrival: the earlier observation is the better one', () => {
    const tpe = new CategoricalTPE({ a: 5 }, { seed: 3, nStartupTrials: 0, gamma: () => 1 });
    tpe.tell({ a: 3 }, 1);
    tpe.tell({ a: 1 }, 1);
    for (let i = 0; i < 10; i++) tpe.tell({ a: 0 }, 0);
    expect(picks(tpe)).toEqual(new Set([3]));
  });

  it('suggests the best of nEiCandidates draws (24 by default); a single draw is just a sample of the good density', () => {
    expect(picks(ranked({ nEiCandidates: 1 })).size).toBeGreaterThan(1);
    expect(picks(ranked({ nEiCandidates: 24 }))).toEqual(new Set([0]));
  });

  it('ignores observations that name a choice outside the space or leave a parameter out', () => {
    const tpe = ranked();
    tpe.tell({ a: 7 }, 100);
    tpe.tell({ a: -1 }, 99);
    tpe.tell({}, 98);
    for (let i = 0; i < 20; i++) {
      const p = tpe.suggest();
      expect(p.a).toBeGreaterThanOrEqual(0);
      expect(p.a).toBeLessThan(5);
    }
  });
});
