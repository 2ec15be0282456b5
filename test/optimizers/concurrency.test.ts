import { describe, expect, it } from 'vitest';
import { runOrdered } from '../../src/optimizers/concurrency.js';

class Fatal extends Error {}

describe('runOrdered', () => {
  it('commits in index order whatever order tasks finish in', async () => {
    const committed: number[] = [];
    await runOrdered(
      5,
      (i) => new Promise<number>((r) => setTimeout(() => r(i), (5 - i) * 3)),
      (i, o) => (committed.push(o.ok ? (o.value as number) : -1), 'continue'),
      { limit: 5 },
    );
    expect(committed).toEqual([0, 1, 2, 3, 4]);
  });

  it('a stop error from a task still in flight after a commit stopped the run does not fail the run', async () => {
    const committed: number[] = [];
    const run = runOrdered(
      3,
      (i) =>
        i === 0
          ? Promise.resolve(0)
          : new Promise<number>((_, reject) => setTimeout(() => reject(new Fatal('budget reached by discarded work')), 10)),
      (i) => (committed.push(i), 'stop'),
      { limit: 3, isFatal: (e) => e instanceof Fatal },
    );
    await expect(run).resolves.toBeUndefined();
    expect(committed).toEqual([0]);
  });

  it('a stop error before the run ends still ends it with that error', async () => {
    const run = runOrdered(
      3,
      (i) => (i === 0 ? Promise.reject(new Fatal('budget')) : Promise.resolve(i)),
      () => 'continue',
      { limit: 1, isFatal: (e) => e instanceof Fatal },
    );
    await expect(run).rejects.toBeInstanceOf(Fatal);
  });
});
