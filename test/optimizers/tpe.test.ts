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
