import { describe, expect, it } from 'vitest';
import { Slots, allInOrder, runOrdered } from '../../src/util/concurrency.js';

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

describe('Slots and allInOrder', () => {
  it('jobs side by side keep to the shared limit and commit in index order', async () => {
    const slots = new Slots(2);
    let active = 0;
    let maxActive = 0;
    const committed: number[] = [];
    await allInOrder(
      3,
      16,
      // Each job runs 3 tasks through the shared slots; the last job finishes first.
      (j) =>
        Promise.all(
          [0, 1, 2].map(() =>
            slots.run(async () => {
              active += 1;
              maxActive = Math.max(maxActive, active);
              await new Promise((r) => setTimeout(r, (3 - j) * 2));
              active -= 1;
            }),
          ),
        ).then(() => j),
      (i, v) => committed.push(i * 10 + v),
      () => false,
    );
    expect(maxActive).toBe(2);
    expect(committed).toEqual([0, 11, 22]);
  });

  it('at concurrency 1 the jobs run one after the other', async () => {
    const started: number[] = [];
    const finished: number[] = [];
    await allInOrder(
      3,
      1,
      async (j) => {
        started.push(j);
        expect(finished).toHaveLength(j);
        await new Promise((r) => setTimeout(r, 1));
        finished.push(j);
        return j;
      },
      () => {},
      () => false,
    );
    expect(started).toEqual([0, 1, 2]);
  });
});
