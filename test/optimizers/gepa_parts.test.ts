/**
 * GEPA's parts, each against hand-computed values: the budget presets, the reflective dataset's
 * text and the cleaning of proposals, metric-call accounting and per-example scoring, the merge
 * of two lineages, and the frontier's order. (gepa.test.ts covers compile end to end.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Example, Module, Predict, settings, type Prediction } from '../../src/dspy/index.js';
import { ManagedLM } from '../../src/lm/managed.js';
import { Meter, runWithMeter } from '../../src/lm/meter.js';
import type { LM } from '../../src/lm/types.js';
import { chooseByRule, frontierFrequencies, GEPA, oneRoundMetricCalls, presetMetricCalls, qualityCostFront, RunContext, RunStopped, sampleParent, type GepaReport } from '../../src/optimizers/index.js';
import { maxIterations } from '../../src/optimizers/gepa/budget.js';
import { ancestors, mergeInstructions, planMerge } from '../../src/optimizers/gepa/merge.js';
import { cleanInstruction, formatReflectionRecords, proposeFromReflection } from '../../src/optimizers/gepa/reflection.js';
import { defaultFeedback, MetricCallBudget, scoreBatch } from '../../src/optimizers/gepa/scoring.js';
import { Rng } from '../../src/util/rng.js';
import { ruleText, rulesData, rulesMetric, rulesPromptLM, rulesTaskLM } from '../../bench/support/rules_task.mjs';

afterEach(() => settings.reset());

const answerLM = (text: string, counter?: { n: number }): LM => ({
  provider: 'simulated',
  model: 'fixed',
  async generate() {
    if (counter) counter.n += 1;
    return { text, usage: { inputTokens: 10, outputTokens: 2 }, model: 'fixed', cached: false, costUsd: 0 };
  },
});

describe('budget presets (DSPy auto_budget shape)', () => {
  it('counts the seed pass, bootstrap, minibatch trials and periodic full passes', () => {
    // light: n 6; 1 predictor: trials floor(max(4 log2 6, 9)) = 10; 10 + 30 + 350 + (floor(11/5)+1) * 10
    expect(presetMetricCalls('light', 1, 10)).toBe(420);
    // medium: n 12, 2 predictors: trials floor(max(8 log2 12, 18)) = 28; 20 + 60 + 980 + (5 + 1) * 20
    expect(presetMetricCalls('medium', 2, 20)).toBe(1180);
    // heavy: n 18, 1 predictor: trials floor(max(4 log2 18, 27)) = 27; 5 + 90 + 945 + (5 + 1) * 5
    expect(presetMetricCalls('heavy', 1, 5)).toBe(1070);
    // Fewer trials than fullEvalSteps: one extra final pass; minibatch size honoured.
    // light, 1 predictor: 10 trials < 20 -> periodic floor(11/20)+1 = 1, extra 1: 10 + 30 + 10*3 + 2*10
    expect(presetMetricCalls('light', 1, 10, { minibatchSize: 3, fullEvalSteps: 20 })).toBe(90);
  });

  it('one round and the iterations a budget allows', () => {
    expect(oneRoundMetricCalls(10, 3)).toBe(26);
    expect(maxIterations(100, 10, 3)).toBe(15);
    expect(maxIterations(15, 10, 3)).toBe(0);
    expect(maxIterations(5, 10, 3)).toBe(0);
  });
});

describe('reflection', () => {
  it('formats the reflective dataset as sections per example', () => {
    const text = formatReflectionRecords([
      { inputs: { question: 'q?', ctx: { a: 1 } }, outputs: { answer: '42' }, feedback: 'wrong, expected 41', score: 0 },
      { inputs: { question: 'r?' }, outputs: 'The program failed', feedback: 'error', score: 0 },
    ]);
    expect(text).toBe(
      '# Example 1\n## Inputs\n#### question\nq?\n\n#### ctx\n{\n  "a": 1\n}\n\n## Generated Outputs\n#### answer\n42\n\n## Feedback\nwrong, expected 41' +
        '\n\n# Example 2\n## Inputs\n#### question\nr?\n\n## Generated Outputs\nThe program failed\n\n## Feedback\nerror',
    );
  });

  it('cleans fences and quotes around a proposal, and nothing else', () => {
    expect(cleanInstruction('```\nDo X.\n```')).toBe('Do X.');
    expect(cleanInstruction('```text\nDo X.\nThen Y.\n```')).toBe('Do X.\nThen Y.');
    expect(cleanInstruction('  "Do X."  ')).toBe('Do X.');
    expect(cleanInstruction("'Do X.'")).toBe('Do X.');
    expect(cleanInstruction('"')).toBe('"');
    expect(cleanInstruction('Say "hi" twice.')).toBe('Say "hi" twice.');
  });

  it('asks the reflection LM through a Predict and returns its instruction, or nothing', async () => {
    const seen: string[] = [];
    const lm: LM = {
      provider: 'simulated',
      model: 'r',
      async generate(messages, options) {
        seen.push(`${String(options?.rolloutId)}|${messages[messages.length - 1]?.content ?? ''}`);
        return { text: '[[ ## new_instruction ## ]]\n```\nBe exact.\n```\n\n[[ ## completed ## ]]', usage: { inputTokens: 1, outputTokens: 1 }, model: 'r', cached: false, costUsd: 0 };
      },
    };
    const got = await proposeFromReflection({ currentInstruction: 'Answer.', records: [{ inputs: { q: 'x' }, outputs: { a: 'y' }, feedback: 'fb', score: 0 }], lm, rolloutId: 'gepa-1-0' });
    expect(got).toBe('Be exact.');
    expect(seen[0]).toMatch(/^gepa-1-0\|/);
    expect(seen[0]).toContain('[[ ## current_instruction ## ]]\nAnswer.');
    expect(seen[0]).toContain('## Feedback\nfb');
  });
});

class Echo extends Module {
  predict = new Predict('question -> answer');
  forward(inputs: Record<string, unknown>): Promise<Prediction> {
    if (String(inputs.question).includes('boom')) throw new Error('exploded');
    return this.predict.call(inputs);
  }
}

describe('scoring', () => {
  it('reserves metric calls before spending them, and refuses a batch it cannot pay for whole', () => {
    const b = new MetricCallBudget(5);
    b.reserve(3);
    expect(b.remaining()).toBe(2);
    expect(() => b.reserve(3)).toThrow(RunStopped);
    expect(() => b.reserve(3)).toThrow(/max metric calls 5 reached \(3 used, next step needs 3\)/);
    expect(b.used).toBe(3);
    b.reserve(2);
    expect(b.remaining()).toBe(0);
    expect(new MetricCallBudget(undefined).remaining()).toBe(Infinity);
  });

  it('scores each example with its trace and feedback; a failed execution scores 0 and says why', async () => {
    const counter = { n: 0 };
    settings.configure({ lm: new ManagedLM(answerLM('[[ ## answer ## ]]\nok\n\n[[ ## completed ## ]]', counter), { cache: false }) });
    const meter = new Meter();
    const ctx = new RunContext(meter, 0, 2, undefined, undefined, undefined);
    const examples = ['a', 'boom', 'c'].map((q) => new Example({ question: q, answer: 'ok' }).withInputs('question'));
    const metric = (ex: Example, pred: Prediction) =>
      ex.get('question') === 'c' ? { score: 0.5, feedback: 'half right', byPredictor: { predict: 'step feedback' } } : pred.get('answer') === 'ok';
    const r = await runWithMeter(meter, () => scoreBatch(ctx, new Echo(), examples, metric, new MetricCallBudget(10)));
    expect(r.items.map((i) => i.score)).toEqual([1, 0, 0.5]);
    expect(r.items[0]?.feedback).toBe(defaultFeedback(1));
    expect(defaultFeedback(1)).toBe('This trajectory got a score of 1.');
    expect(r.items[0]?.trace).toHaveLength(1);
    expect(r.items[1]).toMatchObject({ score: 0, prediction: null, trace: [], error: 'Error: exploded' });
    expect(r.items[1]?.feedback).toBe('The program failed: Error: exploded');
    expect(r.items[2]).toMatchObject({ feedback: 'half right', byPredictor: { predict: 'step feedback' } });
    // Cost per execution from the meter: two LM calls of 12 tokens over three executions.
    expect(counter.n).toBe(2);
    expect(r.cost.tokens).toBeCloseTo(24 / 3, 6);
    expect(r.cost.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('spends nothing when the budget cannot pay for the batch', async () => {
    const counter = { n: 0 };
    settings.configure({ lm: answerLM('[[ ## answer ## ]]\nok\n\n[[ ## completed ## ]]', counter) });
    const ctx = new RunContext(new Meter(), 0, 1, undefined, undefined, undefined);
    const examples = ['a', 'b'].map((q) => new Example({ question: q }).withInputs('question'));
    await expect(scoreBatch(ctx, new Echo(), examples, () => 1, new MetricCallBudget(1))).rejects.toThrow(RunStopped);
    expect(counter.n).toBe(0);
  });

  it('a metric that throws ends the batch with its error', async () => {
    settings.configure({ lm: answerLM('[[ ## answer ## ]]\nok\n\n[[ ## completed ## ]]') });
    const ctx = new RunContext(new Meter(), 0, 1, undefined, undefined, undefined);
    const examples = [new Example({ question: 'a' }).withInputs('question')];
    await expect(
      scoreBatch(ctx, new Echo(), examples, () => {
        throw new Error('metric broke');
      }, new MetricCallBudget(5)),
    ).rejects.toThrow(/metric broke/);
  });
});

describe('merge', () => {
  it('takes the better side when both changed the same predictor', () => {
    const l = { instructions: [['a0', 'b0'], ['a1', 'b1'], ['a2', 'b0']], parents: [[], [0], [0]] };
    // Predictor 0 changed on both sides: the better candidate's; predictor 1 only by 1.
    expect(mergeInstructions(l, 1, 2, 0, 2)).toEqual(['a2', 'b1']);
    // With 1 better, every change comes from 1: nothing from 2, so no merge.
    expect(mergeInstructions(l, 1, 2, 0, 1)).toBeUndefined();
    // The same change on both sides counts for neither.
    const same = { instructions: [['a0'], ['aX'], ['aX']], parents: [[], [0], [0]] };
    expect(mergeInstructions(same, 1, 2, 0, 1)).toBeUndefined();
  });

  it('walks ancestry through merges and picks the nearest common ancestor', () => {
    const l = {
      instructions: [
        ['a0', 'b0', 'c0'],
        ['a1', 'b0', 'c0'], // 1 <- 0
        ['a1', 'b2', 'c0'], // 2 <- 1
        ['a1', 'b0', 'c3'], // 3 <- 1
      ],
      parents: [[], [0], [1], [1]],
    };
    expect([...ancestors(l, 2)].sort()).toEqual([0, 1]);
    expect([...ancestors({ instructions: [], parents: [[], [0], [0], [1, 2]] }, 3)].sort()).toEqual([0, 1, 2]);
    const plan = planMerge(l, [2, 3], () => 0, new Set(), new Rng(3));
    expect(plan).toMatchObject({ ancestor: 1, instructions: ['a1', 'b2', 'c3'] });
    expect(new Set([plan!.a, plan!.b])).toEqual(new Set([2, 3]));
  });

  it('never merges a candidate with its own descendant, nor repeats a merge or an existing candidate', () => {
    const l = { instructions: [['a0', 'b0'], ['a1', 'b0'], ['a1', 'b2'], ['a3', 'b0']], parents: [[], [0], [1], [0]] };
    expect(planMerge(l, [1, 2], () => 0, new Set(), new Rng(1))).toBeUndefined(); // 2 descends from 1
    // 2 and 3 both changed predictor 0: 3 scores better, so the merge is ['a3', 'b2'].
    const mean = (c: number) => (c === 3 ? 1 : 0);
    expect(planMerge(l, [2, 3], mean, new Set(), new Rng(1))?.instructions).toEqual(['a3', 'b2']);
    const withCopy = { instructions: [...l.instructions, ['a3', 'b2']], parents: [...l.parents, [0]] };
    expect(planMerge(withCopy, [2, 3], mean, new Set(), new Rng(1))).toBeUndefined(); // ['a3','b2'] exists
    expect(planMerge(l, [2, 3], mean, new Set([JSON.stringify(['a3', 'b2'])]), new Rng(1))).toBeUndefined();
  });

  it('breaks a conflict toward the candidate with the better mean', () => {
    const l = { instructions: [['a0', 'b0'], ['a1', 'b1'], ['a2', 'b0']], parents: [[], [0], [0]] };
    const means: Record<number, number> = { 1: 0.2, 2: 0.9 };
    expect(planMerge(l, [1, 2], (c) => means[c] ?? 0, new Set(), new Rng(2))?.instructions).toEqual(['a2', 'b1']);
  });
});

describe('frontier order and rules', () => {
  it('lists frontier candidates in candidate order, and draws only among them', () => {
    expect(frontierFrequencies([[0, 1], [0, 0], [1, 0]])).toEqual([
      { candidate: 0, frequency: 1 },
      { candidate: 2, frequency: 1 },
    ]);
    expect(sampleParent([], new Rng(1))).toBe(0);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) seen.add(sampleParent([[0, 1], [0, 0], [1, 0]], new Rng(i)));
    expect([...seen].sort()).toEqual([0, 2]);
  });

  it('ties keep the earliest candidate; the front is cheapest first', () => {
    const pts = [
      { candidate: 0, score: 80, costUsd: 0, tokens: 300 },
      { candidate: 1, score: 80, costUsd: 0, tokens: 200 },
      { candidate: 2, score: 90, costUsd: 0, tokens: 400 },
    ];
    expect(chooseByRule(pts, 'best')).toBe(2);
    expect(chooseByRule(pts.slice(0, 2), 'best')).toBe(0);
    expect(chooseByRule(pts, { cheapestWithin: 10 })).toBe(1);
    expect(qualityCostFront(pts).map((p) => p.candidate)).toEqual([1, 2]);
    expect(chooseByRule([], 'best')).toBe(0);
  });
});

describe('GEPA options', () => {
  const data = (n: number, offset = 0) => rulesData(n, { categories: 4, offset }).map((d) => new Example(d).withInputs('question'));
  class Solve extends Module {
    solve: Predict;
    constructor(instructions?: string) {
      super();
      this.solve = new Predict('question -> answer');
      if (instructions) this.solve.signature = this.solve.signature.withInstructions(instructions);
    }
    forward(inputs: Record<string, unknown>): Promise<Prediction> {
      return this.solve.call(inputs);
    }
  }

  it('refuses an over-long proposal without scoring it', async () => {
    settings.configure({ lm: new ManagedLM(rulesTaskLM(), { cache: false }) });
    const reflections = { n: 0 };
    const long = answerLM(`[[ ## new_instruction ## ]]\n${'x'.repeat(50)}\n\n[[ ## completed ## ]]`, reflections);
    let calls = 0;
    const r = await new GEPA({ maxMetricCalls: 40, reflectionLm: long, maxInstructionChars: 10 }).compile(new Solve(), {
      trainset: data(8),
      valset: data(4, 50),
      metric: (ex, pred) => {
        calls += 1;
        return rulesMetric(ex, pred);
      },
      seed: 1,
    });
    const g = r.gepa as GepaReport;
    expect(reflections.n).toBeGreaterThan(0);
    expect(g.candidates).toHaveLength(1);
    // Only the seed pass and one parent minibatch per iteration were scored: no child ever.
    expect(calls).toBe(4 + g.iterations * 3);
    expect(r.report.trials.filter((t) => t.kind === 'minibatch')).toEqual([]);
  });

  it('skips reflection when the parent is already perfect on its minibatch (unless told not to)', async () => {
    const all = [0, 1, 2, 3].map(ruleText).join(' ');
    for (const skip of [true, false]) {
      settings.configure({ lm: new ManagedLM(rulesTaskLM(), { cache: false }) });
      const reflections = { n: 0 };
      const reflector = answerLM('[[ ## new_instruction ## ]]\nSomething else.\n\n[[ ## completed ## ]]', reflections);
      const r = await new GEPA({ maxMetricCalls: 30, reflectionLm: reflector, skipPerfectScore: skip }).compile(new Solve(all), {
        trainset: data(8),
        valset: data(4, 50),
        metric: rulesMetric,
        seed: 2,
      });
      expect(r.report.baselineScore).toBe(100);
      if (skip) {
        expect(reflections.n).toBe(0);
        expect(r.report.trials.filter((t) => t.kind === 'skip').length).toBe((r.gepa as GepaReport).iterations);
      } else {
        expect(reflections.n).toBeGreaterThan(0);
      }
    }
  });

  it('holds out valFraction of the trainset when no valset is given', async () => {
    settings.configure({ lm: new ManagedLM(rulesTaskLM(), { cache: false }) });
    const r = await new GEPA({ maxMetricCalls: 3, valFraction: 0.3 }).compile(new Solve(), { trainset: data(10), metric: rulesMetric, seed: 4 });
    expect(r.report.trials[0]).toMatchObject({ kind: 'baseline', size: 3 });
    expect(() => new GEPA({ valFraction: 1 })).toThrow(/valFraction/);
    expect(() => new GEPA({ reflectionMinibatchSize: 0 })).toThrow(/reflectionMinibatchSize/);
    await expect(new GEPA({ maxMetricCalls: 5 }).compile(new Solve(), { trainset: data(1), metric: rulesMetric })).rejects.toThrow(/at least 2 examples/);
  });

  it('picks the best-mean parent with candidateSelectionStrategy current_best', async () => {
    settings.configure({ lm: new ManagedLM(rulesTaskLM(), { cache: false }) });
    const prompt = new ManagedLM(rulesPromptLM(), { cache: false });
    const r = await new GEPA({ maxMetricCalls: 150, reflectionLm: prompt, candidateSelectionStrategy: 'current_best' }).compile(new Solve(), {
      trainset: data(12),
      valset: data(8, 50),
      metric: rulesMetric,
      seed: 5,
    });
    const g = r.gepa as GepaReport;
    // Always the best so far as parent: every accepted child descends from the best at its time,
    // so the lineage is a chain and scores never go down along it.
    const accepted = g.candidates.slice(1);
    expect(accepted.length).toBeGreaterThan(0);
    for (const c of accepted) {
      const parent = g.candidates[c.parents[0] as number]!;
      expect(parent.score).toBe(Math.max(...g.candidates.filter((x) => x.index < c.index).map((x) => x.score)));
    }
  });
});
