/**
 * GEPA's pure parts at their edges (gepa_parts.test.ts has the common cases): ties in parent
 * and program choice, the quality/cost front's order, ancestry through merges, which common
 * ancestor and which side wins a conflict, the budget's boundaries, per-execution cost of a
 * batch, and the reflection's text and fallbacks.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Example, Module, Predict, Prediction, settings } from '../../src/dspy/index.js';
import { ManagedLM } from '../../src/lm/managed.js';
import { Meter, runWithMeter } from '../../src/lm/meter.js';
import type { LM } from '../../src/lm/types.js';
import { RunContext, RunStopped } from '../../src/optimizers/index.js';
import { maxIterations, oneRoundMetricCalls, presetMetricCalls } from '../../src/optimizers/gepa/budget.js';
import { ancestors, mergeInstructions, planMerge } from '../../src/optimizers/gepa/merge.js';
import { bestByMean, chooseByRule, dominates, exampleFronts, frontierFrequencies, mean, qualityCostFront, sampleParent } from '../../src/optimizers/gepa/pareto.js';
import { cleanInstruction, formatReflectionRecords, proposeFromReflection } from '../../src/optimizers/gepa/reflection.js';
import { MetricCallBudget, scoreBatch } from '../../src/optimizers/gepa/scoring.js';
import { Rng } from '../../src/util/rng.js';

afterEach(() => settings.reset());

const fixed = (text: string, seen?: string[], usage = { inputTokens: 10, outputTokens: 2 }): LM => ({
  provider: 'simulated',
  model: 'fixed',
  async generate(messages) {
    seen?.push(messages[messages.length - 1]?.content ?? '');
    return { text, usage, model: 'fixed', cached: false, costUsd: 0 };
  },
});

describe('Pareto frontier edges', () => {
  it('dominance needs every example at least as good and one better', () => {
    expect(dominates([1, 1], [1, 0])).toBe(true);
    expect(dominates([1, 0], [1, 1])).toBe(false);
    expect(dominates([0.5, 1], [0.4, 1])).toBe(true);
    expect(dominates([], [])).toBe(false);
  });

  it('fronts of an empty table, and of negative scores', () => {
    expect(exampleFronts([])).toEqual([]);
    expect(frontierFrequencies([])).toEqual([]);
    expect(exampleFronts([[-1, -3], [-2, -3]])).toEqual([[0], [0, 1]]);
    // Candidate 1 is dominated by 0 (equal on e1, worse on e0): only 0 remains.
    expect(frontierFrequencies([[-1, -3], [-2, -3]])).toEqual([{ candidate: 0, frequency: 2 }]);
  });

  it('draws every frontier candidate, each in proportion to its frequency, and only from a seeded stream', () => {
    const table = [
      [1, 0, 0],
      [0, 1, 1],
    ];
    const counts = [0, 0];
    const rng = new Rng(11);
    for (let i = 0; i < 3000; i++) counts[sampleParent(table, rng)]! += 1;
    expect(counts[0]! / 3000).toBeGreaterThan(0.28);
    expect(counts[0]! / 3000).toBeLessThan(0.39);
    const a = Array.from({ length: 20 }, (_, i) => sampleParent(table, new Rng(i)));
    expect(Array.from({ length: 20 }, (_, i) => sampleParent(table, new Rng(i)))).toEqual(a);
    expect(sampleParent([[3, 3]], new Rng(1))).toBe(0);
  });

  it('the best mean wins, the earliest on ties; an empty table gives 0', () => {
    expect(bestByMean([[0, 1], [1, 0], [1, 1]])).toBe(2);
    expect(bestByMean([[0, 1], [1, 0]])).toBe(0);
    expect(bestByMean([[0], [2], [2]])).toBe(1);
    expect(bestByMean([[-5], [-3]])).toBe(1);
    expect(bestByMean([])).toBe(0);
    expect(mean([])).toBe(0);
    expect(mean([1, 2, 6])).toBe(3);
  });
});

describe('quality/cost front and the selection rule', () => {
  const p = (candidate: number, score: number, costUsd: number, tokens: number) => ({ candidate, score, costUsd, tokens });

  it('keeps a candidate unless another is at least as good and at least as cheap, and strictly one of them', () => {
    // 1 equals 0 on both: neither beats the other, both kept; 2 costs more for the same score: dropped.
    expect(qualityCostFront([p(0, 50, 0.1, 1), p(1, 50, 0.1, 1), p(2, 50, 0.2, 1)]).map((x) => x.candidate)).toEqual([0, 1]);
    // Same cost, lower score: dropped.
    expect(qualityCostFront([p(0, 50, 0.1, 1), p(1, 40, 0.1, 1)]).map((x) => x.candidate)).toEqual([0]);
    expect(qualityCostFront([])).toEqual([]);
  });

  it('compares in USD when any candidate is priced, else in tokens; cheapest first, then best score', () => {
    // Priced: candidate 1 is cheaper in USD though it uses more tokens.
    expect(qualityCostFront([p(0, 60, 0.3, 10), p(1, 50, 0.1, 90)]).map((x) => x.candidate)).toEqual([1, 0]);
    expect(qualityCostFront([p(0, 60, 0, 10), p(1, 50, 0, 90)]).map((x) => x.candidate)).toEqual([0]);
    expect(qualityCostFront([p(0, 40, 0, 10), p(1, 50, 0, 90)]).map((x) => x.candidate)).toEqual([0, 1]);
    expect(qualityCostFront([p(1, 50, 0, 10), p(0, 50, 0, 10)]).map((x) => x.candidate)).toEqual([0, 1]);
  });

  it('best: the highest score, the earliest on ties; cheapestWithin: inclusive of N points, cheapest, then tokens, score, index', () => {
    expect(chooseByRule([p(0, 70, 0, 1), p(1, 80, 0, 1), p(2, 80, 0, 1)], 'best')).toBe(1);
    const pts = [p(0, 80, 0.5, 100), p(1, 75, 0.2, 300), p(2, 74.9, 0.1, 50)];
    expect(chooseByRule(pts, { cheapestWithin: 5 })).toBe(1);
    expect(chooseByRule(pts, { cheapestWithin: 5.1 })).toBe(2);
    // Unpriced: tokens decide; equal tokens: the better score; then the earlier candidate.
    expect(chooseByRule([p(0, 80, 0, 100), p(1, 79, 0, 50)], { cheapestWithin: 1 })).toBe(1);
    expect(chooseByRule([p(0, 79, 0, 50), p(1, 80, 0, 50)], { cheapestWithin: 1 })).toBe(1);
    expect(chooseByRule([p(1, 80, 0, 50), p(0, 80, 0, 50)], { cheapestWithin: 1 })).toBe(0);
    // Priced: USD first, tokens break a USD tie.
    expect(chooseByRule([p(0, 80, 0.1, 90), p(1, 80, 0.2, 10)], { cheapestWithin: 0 })).toBe(0);
    expect(chooseByRule([p(0, 80, 0.1, 90), p(1, 80, 0.1, 10)], { cheapestWithin: 0 })).toBe(1);
  });
});

describe('merge edges', () => {
  it('walks each ancestor once, through diamonds', () => {
    const l = { instructions: [], parents: [[], [0], [0], [1, 2], [3, 1]] };
    expect([...ancestors(l, 4)].sort()).toEqual([0, 1, 2, 3]);
    expect([...ancestors(l, 0)]).toEqual([]);
    expect([...ancestors(l, 9)]).toEqual([]);
  });

  it('both sides changed a predictor differently: the better side\'s version, and that counts as its contribution', () => {
    const l = { instructions: [['a0', 'b0'], ['a1', 'b1'], ['a2', 'b0']], parents: [[], [0], [0]] };
    // With 2 better: predictor 0 from 2, predictor 1 from 1 (only 1 changed it).
    expect(mergeInstructions(l, 1, 2, 0, 2)).toEqual(['a2', 'b1']);
    // 1 changed both predictors, 2 only the first: with 2 better and both having changed the
    // first, each side contributes one.
    const m = { instructions: [['a0', 'b0'], ['a1', 'b1'], ['a2', 'b0']], parents: [[], [0], [0]] };
    expect(mergeInstructions(m, 2, 1, 0, 2)).toEqual(['a2', 'b1']);
  });

  it('prefers the nearest common ancestor and the better-scoring side of a conflict, the first of a tie', () => {
    const l = {
      instructions: [
        ['a0', 'b0'],
        ['a1', 'b0'], // 1 <- 0
        ['a2', 'b0'], // 2 <- 1 (changed predictor 0 again)
        ['a1', 'b3'], // 3 <- 1 (changed predictor 1)
      ],
      parents: [[], [0], [1], [1]],
    };
    // Over 1 (nearest): 2 contributes a2, 3 contributes b3.
    expect(planMerge(l, [2, 3], () => 0, new Set(), new Rng(4))).toMatchObject({ ancestor: 1, instructions: ['a2', 'b3'] });
    const conflict = { instructions: [['a0', 'b0'], ['a1', 'b1'], ['a2', 'b2']], parents: [[], [0], [0]] };
    // Both changed both predictors: the better side takes everything and the other adds nothing.
    expect(planMerge(conflict, [1, 2], (c) => c, new Set(), new Rng(1))).toBeUndefined();
    const tie = { instructions: [['a0', 'b0'], ['a1', 'b1'], ['a2', 'b0']], parents: [[], [0], [0]] };
    // On a tie, the pair's first side (frontier order) counts as the better one: with 1 first, 1
    // takes predictor 0 too and 2 adds nothing; with 2 first, the merge is ['a2', 'b1'].
    expect(planMerge(tie, [1, 2], () => 0.5, new Set(), new Rng(1))).toBeUndefined();
    expect(planMerge(tie, [2, 1], () => 0.5, new Set(), new Rng(1))).toEqual({ a: 2, b: 1, ancestor: 0, instructions: ['a2', 'b1'] });
  });

  it('no pair, no merge', () => {
    expect(planMerge({ instructions: [['a']], parents: [[]] }, [0], () => 0, new Set(), new Rng(1))).toBeUndefined();
    expect(planMerge({ instructions: [], parents: [] }, [], () => 0, new Set(), new Rng(1))).toBeUndefined();
  });
});

describe('budget edges', () => {
  it('the preset budget grows with predictors and the valset', () => {
    // light, 3 predictors: trials floor(max(12 log2 6, 9)) = 31; 10 + 30 + 31 * 35 + (floor(32 / 5) + 1) * 10
    expect(presetMetricCalls('light', 3, 10)).toBe(10 + 30 + 31 * 35 + 7 * 10);
    expect(presetMetricCalls('light', 1, 10, { fullEvalSteps: 10 })).toBe(10 + 30 + 10 * 35 + (2 + 0) * 10);
    expect(presetMetricCalls('light', 1, 10, { fullEvalSteps: 11 })).toBe(10 + 30 + 10 * 35 + (2 + 1) * 10);
    expect(presetMetricCalls('light', 1, 0)).toBe(30 + 350);
  });

  it('one round and the iterations a budget allows, at their boundaries', () => {
    expect(oneRoundMetricCalls(0, 1)).toBe(2);
    expect(maxIterations(16, 10, 3)).toBe(1);
    expect(maxIterations(21, 10, 3)).toBe(1);
    expect(maxIterations(22, 10, 3)).toBe(2);
    expect(maxIterations(0, 0, 1)).toBe(0);
  });

  it('a budget can be spent exactly, and refuses one call more', () => {
    const b = new MetricCallBudget(4);
    b.reserve(4);
    expect(b.used).toBe(4);
    expect(b.remaining()).toBe(0);
    expect(() => b.reserve(1)).toThrow(RunStopped);
    b.reserve(0);
    const unlimited = new MetricCallBudget(undefined);
    unlimited.reserve(1e6);
    expect(unlimited.used).toBe(1e6);
  });
});

class Echo extends Module {
  predict = new Predict('question -> answer');
  forward(inputs: Record<string, unknown>): Promise<Prediction> {
    return this.predict.call(inputs);
  }
}

describe('batch cost per execution', () => {
  it('divides what the meter counted by the number of executions; an empty batch costs nothing', async () => {
    const meter = new Meter();
    const ctx = new RunContext(meter, 0, 1, undefined, undefined, undefined);
    const lm = new ManagedLM(fixed('[[ ## answer ## ]]\nok\n\n[[ ## completed ## ]]', undefined, { inputTokens: 30, outputTokens: 6 }), { cache: false });
    settings.configure({ lm });
    const examples = ['a', 'b', 'c', 'd'].map((q) => new Example({ question: q }).withInputs('question'));
    const budget = new MetricCallBudget(10);
    const r = await runWithMeter(meter, () => scoreBatch(ctx, new Echo(), examples, () => 1, budget));
    expect(r.cost.tokens).toBe(36);
    expect(r.cost.costUsd).toBe(0);
    expect(budget.used).toBe(4);
    const empty = await runWithMeter(meter, () => scoreBatch(ctx, new Echo(), [], () => 1, budget));
    expect(empty).toEqual({ items: [], cost: { tokens: 0, costUsd: 0, latencyMs: 0 } });
    expect(budget.used).toBe(4);
  });

  it('a stop during a batch ends it instead of scoring the example 0', async () => {
    const ac = new AbortController();
    const ctx = new RunContext(new Meter(), 0, 1, ac.signal, undefined, undefined);
    settings.configure({ lm: fixed('[[ ## answer ## ]]\nok\n\n[[ ## completed ## ]]') });
    ac.abort();
    const examples = [new Example({ question: 'a' }).withInputs('question')];
    await expect(scoreBatch(ctx, new Echo(), examples, () => 1, new MetricCallBudget(5))).rejects.toThrow();
  });
});

/**
 * A program that calls no LM: each execution takes `ms` on a clock the test owns and charges
 * `costUsd` to the run's meter, as a priced LM call would; `fail` makes it throw instead.
 */
class Timed extends Module {
  constructor(
    private readonly clock: { now: number },
    private readonly meter: Meter,
    private readonly opts: { ms: number; costUsd?: number; fail?: () => Error },
  ) {
    super();
  }
  async forward(): Promise<Prediction> {
    this.clock.now += this.opts.ms;
    if (this.opts.costUsd) this.meter.usage.record({ model: 'm', inputTokens: 10, outputTokens: 2, cached: false, costUsd: this.opts.costUsd });
    if (this.opts.fail) throw this.opts.fail();
    return Prediction.from({ answer: 'ok' });
  }
}

describe('batch cost per execution, measured', () => {
  const examples = (n: number) => Array.from({ length: n }, (_, i) => new Example({ question: `q${i}` }).withInputs('question'));
  const clock = { now: 1_000 };
  afterEach(() => vi.restoreAllMocks());

  it('charges each execution what the meter counted during this batch only, and the time its execution took', async () => {
    vi.spyOn(performance, 'now').mockImplementation(() => clock.now);
    const meter = new Meter();
    const ctx = new RunContext(meter, 0, 1, undefined, undefined, undefined);
    // A first batch leaves the meter at $0.50: the second is charged only what it spent itself.
    await scoreBatch(ctx, new Timed(clock, meter, { ms: 10, costUsd: 0.25 }), examples(2), () => 1, new MetricCallBudget(10));
    const r = await scoreBatch(ctx, new Timed(clock, meter, { ms: 40, costUsd: 0.125 }), examples(4), () => 1, new MetricCallBudget(10));
    expect(r.cost.costUsd).toBe(0.125);
    expect(r.cost.tokens).toBe(12);
    expect(r.cost.latencyMs).toBe(40);
  });

  it('a failed execution counts the time it took too', async () => {
    vi.spyOn(performance, 'now').mockImplementation(() => clock.now);
    const ctx = new RunContext(new Meter(), 0, 1, undefined, undefined, undefined);
    const r = await scoreBatch(ctx, new Timed(clock, new Meter(), { ms: 30, fail: () => new Error('down') }), examples(3), () => 1, new MetricCallBudget(10));
    expect(r.items.map((i) => i.score)).toEqual([0, 0, 0]);
    expect(r.cost.latencyMs).toBe(30);
  });

  it('a stop raised inside an execution ends the batch: it is not one more example scored 0', async () => {
    const ac = new AbortController();
    const ctx = new RunContext(new Meter(), 0, 1, ac.signal, undefined, undefined);
    const stopping = new Timed(clock, new Meter(), {
      ms: 1,
      fail: () => {
        ac.abort();
        return new RunStopped('cancelled');
      },
    });
    await expect(scoreBatch(ctx, stopping, examples(2), () => 1, new MetricCallBudget(10))).rejects.toBeInstanceOf(RunStopped);
  });

  it('metric feedback without text keeps the default feedback', async () => {
    const ctx = new RunContext(new Meter(), 0, 1, undefined, undefined, undefined);
    const r = await scoreBatch(ctx, new Timed(clock, new Meter(), { ms: 1 }), examples(1), () => ({ score: 0.5 }), new MetricCallBudget(10));
    expect(r.items[0]?.feedback).toBe('This trajectory got a score of 0.5.');
  });
});

describe('reflection edges', () => {
  it('removes a fence (with or without a language, with or without the last newline) or one pair of matching quotes only', () => {
    expect(cleanInstruction('```markdown\nDo X.```')).toBe('Do X.');
    expect(cleanInstruction('```\n  Do X.  \n```')).toBe('Do X.');
    expect(cleanInstruction('``` \nDo X.\n```')).toBe('``` \nDo X.\n```');
    expect(cleanInstruction('"Do X.\'')).toBe('"Do X.\'');
    expect(cleanInstruction('\'Do X."')).toBe('\'Do X."');
    expect(cleanInstruction('"Do X')).toBe('"Do X');
    expect(cleanInstruction('Do X"')).toBe('Do X"');
    expect(cleanInstruction('""')).toBe('');
    expect(cleanInstruction('" Do X. "')).toBe('Do X.');
    expect(cleanInstruction('```\n"Quoted."\n```')).toBe('Quoted.');
    expect(cleanInstruction('  plain  ')).toBe('plain');
    expect(cleanInstruction('prefix ```\nx\n```')).toBe('prefix ```\nx\n```');
  });

  it('numbers the examples and separates them with a blank line', () => {
    const r = { inputs: { q: 'x' }, outputs: { a: 'y' }, feedback: 'fb', score: 0 };
    const text = formatReflectionRecords([r, r, r]);
    expect(text.split('\n\n# Example ').length).toBe(3);
    expect(text).toContain('# Example 3\n## Inputs\n#### q\nx');
    expect(formatReflectionRecords([{ inputs: {}, outputs: { a: 'y', b: 'z' }, feedback: 'fb', score: 0 }])).toBe(
      '# Example 1\n## Inputs\n\n\n## Generated Outputs\n#### a\ny\n\n#### b\nz\n\n## Feedback\nfb',
    );
  });

  it('without its own LM, asks the configured one; an answer that is only a fence is no instruction', async () => {
    const seen: string[] = [];
    settings.configure({ lm: fixed('[[ ## new_instruction ## ]]\n```\n\n```\n\n[[ ## completed ## ]]', seen) });
    const got = await proposeFromReflection({ currentInstruction: 'Now.', records: [{ inputs: { q: 'x' }, outputs: 'failed', feedback: 'f', score: 0 }], lm: undefined, rolloutId: 'r' });
    expect(got).toBe('');
    expect(seen).toHaveLength(1);
    expect(seen[0]).toContain('[[ ## examples_with_feedback ## ]]\n# Example 1\n## Inputs\n#### q\nx\n\n## Generated Outputs\nfailed\n\n## Feedback\nf');
  });
});
