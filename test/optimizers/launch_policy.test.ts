import { describe, expect, it } from 'vitest';
import { BootstrapFewShot } from '../../src/optimizers/index.js';
import { mayLaunchExample } from '../../src/optimizers/launch_policy.js';
import { Rng } from '../../src/util/rng.js';
import { QA, exact, oracle, qa } from './helpers.js';

describe('mayLaunchExample', () => {
  it('counts every uncommitted example as a potential success', () => {
    expect(mayLaunchExample({ quota: 4, committedSuccesses: 0, uncommitted: 3, committedFailures: 0 })).toBe(true);
    expect(mayLaunchExample({ quota: 4, committedSuccesses: 0, uncommitted: 4, committedFailures: 0 })).toBe(false);
    expect(mayLaunchExample({ quota: 4, committedSuccesses: 2, uncommitted: 2, committedFailures: 5 })).toBe(false);
    expect(mayLaunchExample({ quota: 4, committedSuccesses: 2, uncommitted: 1, committedFailures: 5 })).toBe(true);
  });

  it('allows 10% of the examples the walk surely needs on top', () => {
    // quota 4 + 16 committed failures: the sequential walk runs at least 20 examples -> 2 more.
    expect(mayLaunchExample({ quota: 4, committedSuccesses: 0, uncommitted: 5, committedFailures: 16 })).toBe(true);
    expect(mayLaunchExample({ quota: 4, committedSuccesses: 0, uncommitted: 6, committedFailures: 16 })).toBe(false);
  });
});

describe('BootstrapFewShot at concurrency 16 on random teachers', () => {
  it('never makes more than 1.1x the LM calls of the sequential walk, and picks the same demos', { timeout: 60_000 }, async () => {
    const rng = new Rng(7);
    for (let trial = 0; trial < 12; trial++) {
      const rate = [0.1, 0.3, 0.6, 0.9][trial % 4] as number;
      const wrongSet = new Set<number>();
      for (let i = 0; i < 60; i++) if (rng.random() > rate) wrongSet.add(i);
      const quota = 1 + (trial % 4);
      const run = async (concurrency: number) => {
        const { lm, dummy } = oracle(60, { wrong: (i) => wrongSet.has(i), latencyMs: 1 });
        // Uneven latencies: some examples answer late, so later ones finish before them.
        const gen = dummy.generate.bind(dummy);
        dummy.generate = async (messages, o) => {
          const i = Number(/Q(\d{3})\?/.exec(messages[messages.length - 1]?.content ?? '')?.[1] ?? 0);
          await new Promise((r) => setTimeout(r, ((i * 7 + trial) % 5) * 3));
          return gen(messages, o);
        };
        const { settings } = await import('../../src/dspy/index.js');
        const { program } = await settings.context({ lm }, () =>
          new BootstrapFewShot({ maxBootstrappedDemos: quota, maxLabeledDemos: 0 }).compile(new QA(), { trainset: qa(60), metric: exact, concurrency, seed: trial }),
        );
        return { calls: dummy.calls, demos: JSON.stringify(program.predict.demos.map((d) => d.toDict())) };
      };
      const seq = await run(1);
      const fast = await run(16);
      expect(fast.demos).toBe(seq.demos);
      expect(fast.calls).toBeLessThanOrEqual(Math.floor(seq.calls * 1.1));
    }
  });
});
