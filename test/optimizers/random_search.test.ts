import { afterEach, describe, expect, it } from 'vitest';
import { settings } from '../../src/dspy/index.js';
import { BootstrapFewShotWithRandomSearch, programToJson } from '../../src/optimizers/index.js';
import { exact, oracle, QA, qa } from './helpers.js';

afterEach(() => settings.reset());

describe('BootstrapFewShotWithRandomSearch', () => {
  it('throws when restrict matches no candidate seed', async () => {
    const { lm, dummy } = oracle(4);
    settings.configure({ lm });
    await expect(new BootstrapFewShotWithRandomSearch({ numCandidatePrograms: 2, restrict: [7, 99] }).compile(new QA(), { trainset: qa(4), metric: exact })).rejects.toThrow(
      /restrict \[7,99\] matches no candidate seed/,
    );
    expect(dummy.calls).toBe(0);
  });

  it('tries zero-shot, labeled, unshuffled and shuffled candidates, and stops at stopAtScore (the best wins: random_search_semantics.test.ts)', async () => {
    settings.configure({ lm: oracle(12, { wrong: (i) => i >= 6 }).lm });
    const trainset = qa(6);
    const valset = qa(6, 6); // the LM only answers these right when a demo says so
    const rs = new BootstrapFewShotWithRandomSearch({ numCandidatePrograms: 3, maxBootstrappedDemos: 2, maxLabeledDemos: 2 });
    const { report } = await rs.compile(new QA(), { trainset, valset, metric: exact, seed: 5 });
    expect(report.trials.map((t) => t.seed)).toEqual([-3, -2, -1, 0, 1, 2]);
    expect(report.baselineScore).toBe(0);
    const stop = await new BootstrapFewShotWithRandomSearch({ numCandidatePrograms: 3, stopAtScore: 0 }).compile(new QA(), { trainset, valset, metric: exact });
    expect(stop.report.trials).toHaveLength(1);
  });

  it('is deterministic: two runs with the same seed give byte-identical saved programs', async () => {
    const run = async (concurrency: number) => {
      settings.configure({ lm: oracle(20, { wrong: (i) => i % 3 === 0, needDemos: 4 }).lm });
      const { program } = await new BootstrapFewShotWithRandomSearch({ numCandidatePrograms: 3, maxBootstrappedDemos: 3, maxLabeledDemos: 4 }).compile(new QA(), {
        trainset: qa(12),
        valset: qa(8, 12),
        metric: exact,
        seed: 42,
        concurrency,
      });
      return programToJson(program);
    };
    const a = await run(1);
    expect(await run(4)).toBe(a);
    expect(JSON.parse(a).predict.demos.length).toBeGreaterThan(0);
  });

  it('stops at its budget with cutShort, its calls counted (the best so far returned: random_search_semantics.test.ts)', async () => {
    const { lm, dummy } = oracle(20);
    settings.configure({ lm });
    const events: string[] = [];
    const { program, report } = await new BootstrapFewShotWithRandomSearch({ numCandidatePrograms: 4, maxBootstrappedDemos: 2, maxLabeledDemos: 2 }).compile(new QA(), {
      trainset: qa(6),
      valset: qa(6, 6),
      metric: exact,
      budget: { maxCalls: 15 },
      onProgress: (e) => events.push(e.phase),
    });
    expect(report.cutShort).toBe(true);
    expect(report.cutShortReason).toMatch(/budget/);
    expect(dummy.calls).toBe(15);
    expect(report.usage.calls).toBe(15);
    expect(report.trials.length).toBeGreaterThanOrEqual(1);
    expect(report.bestScore).toBe(Math.max(...report.trials.map((t) => t.score)));
    expect(program.compiled).toBe(true);
    expect(events).toContain('cut_short');
  });

  it('an aborted run returns cleanly, cut short', async () => {
    settings.configure({ lm: oracle(10, { latencyMs: 5 }).lm });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    const { report } = await new BootstrapFewShotWithRandomSearch({ numCandidatePrograms: 10 }).compile(new QA(), { trainset: qa(5), valset: qa(5, 5), metric: exact, signal: ac.signal });
    expect(report.cutShort).toBe(true);
    expect(report.cutShortReason).toBe('aborted');
  });
});
