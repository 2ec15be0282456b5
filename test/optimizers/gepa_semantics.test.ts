/**
 * GEPA's behaviour as dspy.GEPA / the gepa library define it, each pinned on a scripted run
 * whose every step is known: the options and their checks, how the valset and the budget are
 * planned, the dry-run estimate (golden), minibatches drawn in seeded epochs, acceptance only
 * when the child beats its parent on the minibatch, which parent is chosen (Pareto frontier or
 * current best), which predictor's calls the reflection reads, the merge of two lineages that
 * improved different predictors, the report, a cut-short run, and a finished run replayed from
 * its journal with no work.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Example, Module, Predict, settings, type Prediction } from '../../src/dspy/index.js';
import { ManagedLM } from '../../src/lm/managed.js';
import type { LM, LMResponse } from '../../src/lm/types.js';
import { GEPA, presetMetricCalls, type GepaReport } from '../../src/optimizers/index.js';
import { REFLECTION_SIGNATURE, formatReflectionRecords } from '../../src/optimizers/gepa/reflection.js';
import { ruleText, rulesMetric, rulesTaskLM } from '../../bench/support/rules_task.mjs';
import { item, Router, rules } from './gepa_fixtures.js';

afterEach(() => settings.reset());

const reply = (text: string, model: string): LMResponse => ({ text, usage: { inputTokens: 1, outputTokens: 1 }, model, cached: false, costUsd: 0 });

/** One predictor, with the instruction given. */
class Solve extends Module {
  solve = new Predict('question -> answer');
  constructor(instruction?: string) {
    super();
    if (instruction) this.solve.signature = this.solve.signature.withInstructions(instruction);
  }
  forward(inputs: Record<string, unknown>): Promise<Prediction> {
    return this.solve.call(inputs);
  }
}

/** A reflection LM answering `propose(predictor index, current instruction)`; keeps what it was asked. */
function reflector(propose: (k: number, current: string) => string) {
  const asked: Array<{ rollout: string; k: number; current: string; prompt: string }> = [];
  const lm: LM = {
    provider: 'simulated',
    model: 'reflector',
    async generate(messages, options) {
      const prompt = messages[messages.length - 1]?.content ?? '';
      const rollout = String(options?.rolloutId);
      const k = Number(rollout.split('-')[2]);
      const current = /\[\[ ## current_instruction ## \]\]\n([\s\S]*?)\n\n\[\[ ## examples_with_feedback/.exec(prompt)?.[1] ?? '';
      asked.push({ rollout, k, current, prompt });
      return reply(`[[ ## new_instruction ## ]]\n${propose(k, current)}\n\n[[ ## completed ## ]]`, 'reflector');
    },
  };
  return { lm, asked };
}

/** rulesMetric, counting calls and remembering which example each scored. */
function metricLog() {
  const scored: string[] = [];
  const metric = (ex: Example, pred: Prediction) => {
    scored.push(String(ex.get('question')));
    return rulesMetric(ex, pred);
  };
  return { metric, scored };
}

const task = () => new ManagedLM(rulesTaskLM(), { cache: false });

describe('GEPA options', () => {
  it('takes exactly one budget; none means the light preset', () => {
    expect(new GEPA().o.auto).toBe('light');
    expect(new GEPA({ maxMetricCalls: 5 }).o.auto).toBeUndefined();
    expect(new GEPA({ maxFullEvals: 2 }).o.auto).toBeUndefined();
    expect(new GEPA({ auto: 'heavy' }).o.auto).toBe('heavy');
    for (const two of [{ auto: 'light', maxMetricCalls: 5 }, { auto: 'light', maxFullEvals: 1 }, { maxMetricCalls: 5, maxFullEvals: 1 }] as const) {
      expect(() => new GEPA(two), JSON.stringify(two)).toThrow('GEPA: give exactly one of auto, maxMetricCalls, maxFullEvals');
    }
    expect(() => new GEPA({ auto: 'extreme' as 'light' })).toThrow(/auto must be light, medium or heavy, got extreme/);
  });

  it('checks valFraction (strictly between 0 and 1) and reflectionMinibatchSize (a positive integer)', () => {
    for (const valFraction of [0, 1, -0.5, 1.5]) expect(() => new GEPA({ valFraction }), String(valFraction)).toThrow(/valFraction/);
    expect(() => new GEPA({ valFraction: 0.01 })).not.toThrow();
    expect(() => new GEPA({ valFraction: 0.99 })).not.toThrow();
    for (const reflectionMinibatchSize of [0, -1, 1.5]) expect(() => new GEPA({ reflectionMinibatchSize })).toThrow(/reflectionMinibatchSize/);
    expect(new GEPA({ reflectionMinibatchSize: 1 }).o.reflectionMinibatchSize).toBe(1);
  });

  it('has DSPy\'s defaults', () => {
    expect(new GEPA().o).toMatchObject({
      reflectionMinibatchSize: 3,
      candidateSelectionStrategy: 'pareto',
      componentSelector: 'round_robin',
      useMerge: false,
      maxMergeInvocations: 5,
      mergeSubsampleSize: 5,
      skipPerfectScore: true,
      perfectScore: 1,
      maxInstructionChars: 8000,
      valFraction: 0.5,
      select: 'best',
    });
  });
});

describe('GEPA plan and dry-run estimate', () => {
  // Every example's JSON is 40 characters: {"question":"<25 characters>"}.
  const ex40 = (i: number) => new Example({ question: `q${String(i).padStart(24, '0')}` }).withInputs('question');
  const train = Array.from({ length: 6 }, (_, i) => ex40(i));
  const val = Array.from({ length: 4 }, (_, i) => ex40(100 + i));
  const priced = (model: string, usdPerInput: number, usdPerOutput: number) =>
    ({
      provider: 'simulated',
      model,
      generate: async () => reply('', model),
      prices: { lookup: (m: string) => m === model, cost: (_m: string, u: { inputTokens: number; outputTokens: number }) => u.inputTokens * usdPerInput + u.outputTokens * usdPerOutput },
    }) as LM;

  it('bounds every count by the metric-call budget (golden)', () => {
    const est = new GEPA({ maxMetricCalls: 50 }).estimate(new Solve(), { trainset: train, valset: val, metric: () => 1 });
    // 7 iterations: floor((50 - 4) / (2 * 3)); task tokens per call: in ceil((800 + 40) / 4) = 210, out ceil(40 / 8) + 10 = 15;
    // reflection: in ceil((1500 + 3 * 3 * 40) / 4) = 465, out 400.
    expect(est).toEqual({
      calls: { bootstrap: { expected: 0, max: 0 }, proposal: 7, evaluation: 50, total: { expected: 57, max: 57 } },
      tokens: { input: 50 * 210 + 7 * 465, output: 50 * 15 + 7 * 400 },
      numCandidates: 8,
      numTrials: 7,
      fullEvals: 12,
      valsetSize: 4,
      trainsetSize: 6,
      minibatchSize: 3,
      predictors: 1,
      callsPerForward: 1,
      summary:
        'GEPA dry run: at most 50 metric calls (7 reflective iterations at most) on 4 val / 6 train examples; ' +
        'LM calls at most 57 (task 50, reflection 7); ~13755 input + 3550 output tokens; cost unknown (LM not priced)',
    });
  });

  it('prices task calls on the task LM and reflections on the reflection LM', () => {
    const taskLm = priced('task', 1e-6, 2e-6);
    const reflectionLm = priced('refl', 1e-5, 1e-5);
    const est = new GEPA({ maxMetricCalls: 50, taskLm, reflectionLm, callsPerForward: 2 }).estimate(new Solve(), { trainset: train, valset: val, metric: () => 1 });
    const taskUsd = 100 * 210 * 1e-6 + 100 * 15 * 2e-6;
    const reflUsd = 7 * 465 * 1e-5 + 7 * 400 * 1e-5;
    expect(est.calls.evaluation).toBe(100);
    expect(est.costUsd?.expected).toBeCloseTo(taskUsd + reflUsd, 12);
    expect(est.costUsd?.max).toBeCloseTo(taskUsd + reflUsd, 12);
    expect(est.summary).toMatch(new RegExp(`; at most ~\\$${(taskUsd + reflUsd).toFixed(4).replace('.', '\\.')}$`));
    // Without a reflection LM, reflections are priced on the task LM; one unpriced LM leaves the cost unknown.
    const same = new GEPA({ maxMetricCalls: 50, taskLm }).estimate(new Solve(), { trainset: train, valset: val, metric: () => 1 });
    expect(same.costUsd?.max).toBeCloseTo(50 * 210 * 1e-6 + 50 * 15 * 2e-6 + 7 * 465 * 1e-6 + 7 * 400 * 2e-6, 12);
    settings.configure({ lm: taskLm });
    const fromSettings = new GEPA({ maxMetricCalls: 50 }).estimate(new Solve(), { trainset: train, valset: val, metric: () => 1 });
    expect(fromSettings.costUsd?.max).toBeCloseTo(same.costUsd?.max as number, 12);
    const unpricedReflection = new GEPA({ maxMetricCalls: 50, taskLm, reflectionLm: task() }).estimate(new Solve(), { trainset: train, valset: val, metric: () => 1 });
    expect(unpricedReflection.costUsd).toBeUndefined();
    const unpricedTask = new GEPA({ maxMetricCalls: 50, taskLm: task(), reflectionLm }).estimate(new Solve(), { trainset: train, valset: val, metric: () => 1 });
    expect(unpricedTask.costUsd).toBeUndefined();
  });

  it('sizes the budget from maxFullEvals (passes over train + val) or the preset', () => {
    const full = new GEPA({ maxFullEvals: 3 }).estimate(new Solve(), { trainset: train, valset: val, metric: () => 1 });
    expect(full.calls.evaluation).toBe(30);
    const light = new GEPA().estimate(new Router('a', 'b'), { trainset: train, valset: val, metric: () => 1 });
    expect(light.calls.evaluation).toBe(2 * presetMetricCalls('light', 2, 4));
    expect(light.predictors).toBe(2);
    expect(light.callsPerForward).toBe(2);
  });

  it('holds out round(n * valFraction) examples (at least 1, leaving at least 1) when no valset is given', () => {
    const split = (n: number, valFraction?: number) => {
      const e = new GEPA({ maxMetricCalls: 1000, ...(valFraction ? { valFraction } : {}) }).estimate(new Solve(), {
        trainset: Array.from({ length: n }, (_, i) => ex40(i)),
        valset: [],
        metric: () => 1,
      });
      return [e.valsetSize, e.trainsetSize];
    };
    expect(split(10)).toEqual([5, 5]);
    expect(split(10, 0.3)).toEqual([3, 7]);
    expect(split(10, 0.01)).toEqual([1, 9]);
    expect(split(10, 0.99)).toEqual([9, 1]);
    expect(split(2)).toEqual([1, 1]);
    expect(() => split(1)).toThrow('GEPA: needs a valset, or a trainset of at least 2 examples to split');
  });

  it('takes the minibatch no larger than the trainset, and refuses an empty trainset or a program without predictors', () => {
    const e = new GEPA({ maxMetricCalls: 100, reflectionMinibatchSize: 5 }).estimate(new Solve(), { trainset: train.slice(0, 2), valset: val, metric: () => 1 });
    expect(e.minibatchSize).toBe(2);
    expect(() => new GEPA({ maxMetricCalls: 100 }).estimate(new Solve(), { trainset: [], valset: val, metric: () => 1 })).toThrow('GEPA: the trainset is empty');
    class Bare extends Module {
      forward(): Promise<Prediction> {
        throw new Error('unused');
      }
    }
    expect(() => new GEPA({ maxMetricCalls: 100 }).estimate(new Bare(), { trainset: train, valset: val, metric: () => 1 })).toThrow('GEPA: the program has no predictors to optimize');
  });

  it('a dry run spends nothing, warns first when the budget cannot cover one round, and returns the student', async () => {
    const events: Array<{ phase: string; calls: number; costUsd: number; message?: string }> = [];
    const student = new Solve('Original.');
    const r = await new GEPA({ maxMetricCalls: 13, dryRun: true }).compile(student, {
      trainset: train,
      valset: val,
      metric: () => 1,
      seed: 7,
      onProgress: (e) => events.push(e as (typeof events)[number]),
    });
    const warning =
      'the budget of 13 metric calls cannot cover one full round (14: the seed on 4 validation examples, parent and child on a minibatch of 3, and the child on the validation set); the run can only score the program as written';
    expect(events.map((e) => [e.phase, e.calls, e.costUsd])).toEqual([
      ['warning', 0, 0],
      ['dry_run', 0, 0],
    ]);
    expect(events[0]?.message).toBe(`GEPA: ${warning}`);
    expect(events[1]?.message).toBe(r.report.estimate?.summary);
    expect(r.report.estimate?.summary).toMatch(new RegExp(`\\. Warning: ${warning.replace(/[()]/g, '\\$&')}$`));
    expect(r.report).toEqual({
      optimizer: 'GEPA',
      trials: [],
      usage: { calls: 0, cacheHits: 0, sent: 0, aborted: 0, inputTokens: 0, outputTokens: 0, costUsd: 0, byModel: {} },
      cutShort: false,
      seed: 7,
      estimate: r.report.estimate,
    });
    expect(r.program).not.toBe(student);
    expect(r.program.solve.signature.instructions).toBe('Original.');
    // Exactly one round's worth: no warning.
    const quiet: string[] = [];
    await new GEPA({ maxMetricCalls: 14, dryRun: true }).compile(student, { trainset: train, valset: val, metric: () => 1, onProgress: (e) => quiet.push(e.phase) });
    expect(quiet).toEqual(['dry_run']);
    const noSeed = await new GEPA({ maxMetricCalls: 14, dryRun: true }).compile(student, { trainset: train, valset: val, metric: () => 1 });
    expect(noSeed.report.seed).toBe(0);
  });
});

describe('GEPA iterations', () => {
  it('draws minibatches in seeded epochs: every training example once per epoch, never twice in a batch', async () => {
    settings.configure({ lm: task() });
    const trainset = Array.from({ length: 6 }, (_, i) => item(i % 4, i));
    const valset = [item(0, 50), item(1, 51)];
    const { metric, scored } = metricLog();
    // A perfect program: every iteration scores its parent's minibatch and stops there.
    const r = await new GEPA({ maxMetricCalls: 2 + 4 * 3 + 6 }).compile(new Solve(rules(0, 1, 2, 3)), { trainset, valset, metric, seed: 3 });
    const g = r.gepa as GepaReport;
    expect(g.iterations).toBe(4);
    expect(r.report.trials.map((t) => [t.kind, t.size])).toEqual([['baseline', 2], ['skip', 3], ['skip', 3], ['skip', 3], ['skip', 3]]);
    const batches = [0, 1, 2, 3].map((i) => scored.slice(2 + 3 * i, 5 + 3 * i));
    for (const b of batches) expect(new Set(b).size).toBe(3);
    const names = trainset.map((e) => String(e.get('question'))).sort();
    expect([...batches[0]!, ...batches[1]!].sort()).toEqual(names);
    expect([...batches[2]!, ...batches[3]!].sort()).toEqual(names);
    expect(g.metricCalls).toEqual({ used: 14, max: 20 });
    // The budget can pay for a full round (2 * 3 + 2) at every start: the warning is not given.
    expect(g.warnings).toEqual(['no proposal was accepted: the program is the one you wrote']);
  });

  it('starts an iteration only when the budget pays for all of it: exactly enough runs one', async () => {
    for (const [max, iterations] of [
      [4 + 10, 1],
      [4 + 9, 0],
    ] as const) {
      settings.configure({ lm: task() });
      const { lm } = reflector(() => rules(0, 1, 2, 3));
      const { metric, scored } = metricLog();
      const r = await new GEPA({ maxMetricCalls: max, reflectionLm: lm }).compile(new Solve(), {
        trainset: [item(0, 1), item(1, 2), item(2, 3)],
        valset: [item(0, 4), item(1, 5), item(2, 6), item(3, 7)],
        metric,
        seed: 1,
      });
      const g = r.gepa as GepaReport;
      expect(g.iterations, `max ${max}`).toBe(iterations);
      expect(scored.length).toBe(iterations ? 14 : 4);
      expect(g.metricCalls.used).toBe(scored.length);
    }
  });

  it('accepts a child that beats its parent on the minibatch, scores it on the valset, and reports it', async () => {
    settings.configure({ lm: task() });
    const { lm, asked } = reflector(() => rules(0, 1));
    const events: Array<{ phase: string; trial?: number; score?: number; bestScore?: number }> = [];
    const r = await new GEPA({ maxMetricCalls: 4 + 10, reflectionLm: lm }).compile(new Solve('Answer.'), {
      trainset: [item(0, 1), item(1, 2), item(2, 3)],
      valset: [item(0, 4), item(1, 5), item(2, 6), item(3, 7)],
      metric: rulesMetric,
      seed: 1,
      onProgress: (e) => events.push(e),
    });
    const g = r.gepa as GepaReport;
    expect(asked.map((a) => [a.rollout, a.current])).toEqual([['gepa-1-0', 'Answer.']]);
    expect(g.candidates.map(({ latencyMs: _l, costUsd: _c, tokens: _t, ...c }) => c)).toEqual([
      { index: 0, parents: [], origin: 'seed', iteration: 0, instructions: { solve: 'Answer.' }, score: 0 },
      { index: 1, parents: [0], origin: 'reflection', iteration: 1, instructions: { solve: rules(0, 1) }, score: 50 },
    ]);
    expect(g.candidates[1]!.tokens).toBeGreaterThan(0);
    expect(g).toMatchObject({ selected: 1, selection: 'best', iterations: 1, accepted: 1, metricCalls: { used: 14, max: 14 }, warnings: [] });
    expect(g.front.map((p) => p.candidate)).toContain(1);
    expect(r.report.trials.map((t) => [t.kind, t.score, t.size])).toEqual([
      ['baseline', 0, 4],
      ['minibatch', 66.67, 3],
      ['full', 50, 4],
    ]);
    expect(r.report).toMatchObject({ baselineScore: 0, bestScore: 50 });
    expect((r.report as unknown as { gepa: GepaReport }).gepa).toEqual(g);
    expect(r.program.solve.signature.instructions).toBe(rules(0, 1));
    expect(events.filter((e) => e.phase === 'full_eval' || e.phase === 'trial').map((e) => [e.phase, e.trial, e.score])).toEqual([
      ['full_eval', 0, 0],
      ['trial', 1, 66.67],
    ]);
  });

  it('a child that only ties its parent on the minibatch is rejected and never scored on the valset', async () => {
    settings.configure({ lm: task() });
    // The child states the rule of category 3 only: the minibatch (categories 0-2) stays at 0.
    const { lm } = reflector(() => rules(3));
    const { metric, scored } = metricLog();
    const reasons: string[] = [];
    const r = await new GEPA({ maxMetricCalls: 4 + 10, reflectionLm: lm }).compile(new Solve('Answer.'), {
      trainset: [item(0, 1), item(1, 2), item(2, 3)],
      valset: [item(0, 4), item(1, 5), item(2, 6), item(3, 7)],
      metric,
      seed: 1,
      onProgress: (e) => e.phase === 'trial' && reasons.push(String(e.message)),
    });
    const g = r.gepa as GepaReport;
    expect(g.accepted).toBe(0);
    expect(scored).toHaveLength(4 + 3 + 3);
    expect(r.report.trials.map((t) => t.kind)).toEqual(['baseline', 'minibatch']);
    expect(reasons[0]).toContain('rejected (the child did not beat its parent on the minibatch)');
  });

  it('rejects without scoring a proposal that is empty or repeats the current instruction, and says why', async () => {
    for (const [proposal, reason] of [
      ['Answer.', 'the proposal repeats the current instruction'],
      ['""', 'the reflection LM proposed no instruction'],
    ] as const) {
      settings.configure({ lm: task() });
      const { lm } = reflector(() => proposal);
      const { metric, scored } = metricLog();
      const messages: string[] = [];
      const r = await new GEPA({ maxMetricCalls: 4 + 10, reflectionLm: lm }).compile(new Solve('Answer.'), {
        trainset: [item(0, 1), item(1, 2), item(2, 3)],
        valset: [item(0, 4), item(1, 5), item(2, 6), item(3, 7)],
        metric,
        seed: 1,
        onProgress: (e) => e.phase === 'trial' && messages.push(String(e.message)),
      });
      expect(scored).toHaveLength(4 + 3);
      expect((r.gepa as GepaReport).iterations).toBe(1);
      expect(messages[0]).toContain(`rejected (${reason})`);
    }
  });

  it('accepts an instruction of exactly maxInstructionChars, not one character more', async () => {
    for (const [max, accepted] of [
      [rules(0, 1).length, 1],
      [rules(0, 1).length - 1, 0],
    ] as const) {
      settings.configure({ lm: task() });
      const { lm } = reflector(() => rules(0, 1));
      const r = await new GEPA({ maxMetricCalls: 4 + 10, reflectionLm: lm, maxInstructionChars: max }).compile(new Solve('Answer.'), {
        trainset: [item(0, 1), item(1, 2), item(2, 3)],
        valset: [item(0, 4), item(1, 5), item(2, 6), item(3, 7)],
        metric: rulesMetric,
        seed: 1,
      });
      expect((r.gepa as GepaReport).accepted, `max ${max}`).toBe(accepted);
    }
  });

  it('a reflection LM that fails (not an unreadable answer) ends the run with its error', async () => {
    settings.configure({ lm: task() });
    const down: LM = {
      provider: 'simulated',
      model: 'down',
      async generate() {
        throw Object.assign(new Error('connection refused'), { name: 'LMError' });
      },
    };
    await expect(
      new GEPA({ maxMetricCalls: 14, reflectionLm: down }).compile(new Solve('Answer.'), {
        trainset: [item(0, 1), item(1, 2), item(2, 3)],
        valset: [item(0, 4), item(1, 5)],
        metric: rulesMetric,
        seed: 1,
      }),
    ).rejects.toThrow(/connection refused/);
  });
});

describe('GEPA reflection on one predictor', () => {
  it('reads only that predictor\'s calls, and says when the program failed before reaching it', async () => {
    settings.configure({ lm: task() });
    const { lm, asked } = reflector((_k, current) => current);
    // Categories 1 (low) and 3 (high), and one example on which the program fails.
    const trainset = [item(1, 2), item(3, 7), item(3, 8, ' boom')];
    await new GEPA({ maxMetricCalls: 4 + 10 + 10, reflectionLm: lm }).compile(new Router('Low.', 'High.'), {
      trainset,
      valset: [item(0, 4), item(1, 5), item(2, 6), item(3, 9)],
      metric: rulesMetric,
      seed: 1,
    });
    const low = asked.find((a) => a.k === 0)!;
    const high = asked.find((a) => a.k === 1)!;
    expect(low.current).toBe('Low.');
    expect(high.current).toBe('High.');
    expect(low.prompt).toContain('category 1: item 2');
    expect(low.prompt).not.toContain('category 3: item 7\n');
    expect(high.prompt).toContain('category 3: item 7');
    expect(high.prompt).not.toContain('category 1: item 2');
    for (const a of [low, high]) {
      expect(a.prompt).toContain('category 3: item 8 boom');
      expect(a.prompt).toContain('The program failed before this step produced an output: Error: exploded before any step');
    }
  });

  it('asks nothing when the minibatch never reached the predictor', async () => {
    settings.configure({ lm: task() });
    const { lm, asked } = reflector((_k, current) => `${current} More.`);
    const { metric, scored } = metricLog();
    // Only categories 0 and 1: `high` is never called on the trainset.
    const r = await new GEPA({ maxMetricCalls: 4 + 10 + 8, reflectionLm: lm, skipPerfectScore: false }).compile(new Router('Low.', 'High.'), {
      trainset: [item(0, 1), item(1, 2), item(0, 3)],
      valset: [item(0, 4), item(1, 5), item(2, 6), item(3, 9)],
      metric,
      seed: 1,
    });
    // Iteration 1 reflects on `low` (scored, rejected: nothing learnt); iteration 2 on `high`: no record, no question, no child.
    expect(asked.map((a) => a.rollout)).toEqual(['gepa-1-0']);
    expect((r.gepa as GepaReport).iterations).toBe(2);
    expect(scored).toHaveLength(4 + 6 + 3);
  });

  it('with componentSelector all, reflects on every predictor in one iteration', async () => {
    settings.configure({ lm: task() });
    const { lm, asked } = reflector((k) => (k === 0 ? rules(0, 1) : rules(2, 3)));
    const r = await new GEPA({ maxMetricCalls: 4 + 10, reflectionLm: lm, componentSelector: 'all' }).compile(new Router('Low.', 'High.'), {
      trainset: [item(1, 2), item(3, 7), item(0, 3)],
      valset: [item(0, 4), item(1, 5), item(2, 6), item(3, 9)],
      metric: rulesMetric,
      seed: 1,
    });
    expect(asked.map((a) => a.rollout)).toEqual(['gepa-1-0', 'gepa-1-1']);
    const g = r.gepa as GepaReport;
    expect(g.candidates[1]?.instructions).toEqual({ low: rules(0, 1), high: rules(2, 3) });
    expect(g.candidates[1]?.score).toBe(100);
  });

  it('round robin: a candidate\'s predictors in turn', async () => {
    settings.configure({ lm: task() });
    const { lm, asked } = reflector((_k, current) => current);
    await new GEPA({ maxMetricCalls: 4 + 3 * 10, reflectionLm: lm }).compile(new Router('Low.', 'High.'), {
      trainset: [item(1, 2), item(3, 7), item(0, 3)],
      valset: [item(0, 4), item(1, 5), item(2, 6), item(3, 9)],
      metric: rulesMetric,
      seed: 1,
    });
    expect(asked.map((a) => a.rollout).slice(0, 4)).toEqual(['gepa-1-0', 'gepa-2-1', 'gepa-3-0', 'gepa-4-1']);
  });
});

describe('GEPA parent selection', () => {
  // The seed knows category 3; the first child knows 0-2 instead: neither dominates the other on
  // the valset, so the Pareto frontier holds both, while the best mean is the child's.
  async function run(candidateSelectionStrategy: 'pareto' | 'current_best') {
    settings.configure({ lm: task() });
    // The first reflection writes the child; every later one proposes nothing useful.
    const { lm, asked } = reflector(() => (asked.length === 1 ? rules(0, 1, 2) : 'Be careful.'));
    const r = await new GEPA({ maxMetricCalls: 8 + 12 * 14, reflectionLm: lm, candidateSelectionStrategy, skipPerfectScore: false }).compile(new Solve(rules(3)), {
      trainset: [item(0, 1), item(1, 2), item(2, 3)],
      valset: [item(0, 4), item(1, 5), item(2, 6), item(3, 7), item(0, 8), item(1, 9), item(2, 10), item(3, 11)],
      metric: rulesMetric,
      seed: 2,
    });
    return { g: r.gepa as GepaReport, parents: asked.map((a) => a.current) };
  }

  it('current_best always reflects on the best mean', async () => {
    const { g, parents } = await run('current_best');
    expect(g.candidates.map((c) => c.score)).toEqual([25, 75]);
    expect(parents[0]).toBe(rules(3));
    expect(parents.slice(1).length).toBeGreaterThan(3);
    expect(new Set(parents.slice(1))).toEqual(new Set([rules(0, 1, 2)]));
  });

  it('pareto also draws the candidate best on fewer examples', async () => {
    const { g, parents } = await run('pareto');
    expect(g.candidates.map((c) => c.score)).toEqual([25, 75]);
    expect(new Set(parents.slice(1))).toEqual(new Set([rules(3), rules(0, 1, 2)]));
  });
});

describe('GEPA merge', () => {
  // `low` answers categories 0-1, `high` 2-3. The seed knows 0 and 2. Child A rewrites `low` to
  // know 1 (and forgets 0); child B, a sibling, extends `high` to know 3. Merged: low from A,
  // high from B: categories 1, 2, 3.
  const trainset = [item(1, 2), item(3, 7), item(2, 3)];
  const valset = [item(0, 4), item(1, 5), item(2, 6), item(3, 9)];
  const propose = (k: number) => (k === 0 ? rules(1) : rules(2, 3));

  async function run(opts: { useMerge: boolean; maxMergeInvocations?: number; runDir?: string }, counter?: { n: number }) {
    settings.configure({ lm: task() });
    const { lm } = reflector(propose);
    const metric = (ex: Example, pred: Prediction) => {
      if (counter) counter.n += 1;
      return rulesMetric(ex, pred);
    };
    const r = await new GEPA({ maxMetricCalls: 80, reflectionLm: lm, ...opts }).compile(new Router(rules(0), rules(2)), {
      trainset,
      valset,
      metric,
      seed: 5,
      ...(opts.runDir ? { runDir: opts.runDir } : {}),
    });
    return r;
  }

  it('merges two siblings that improved different predictors, accepted when it does as well as both on the subsample', async () => {
    const r = await run({ useMerge: true });
    const g = r.gepa as GepaReport;
    const merged = g.candidates.find((c) => c.origin === 'merge');
    expect(merged).toBeDefined();
    const [a, b] = merged!.parents.map((i) => g.candidates[i]!);
    expect(a!.parents).toEqual([0]);
    expect(b!.parents).toEqual([0]);
    expect(merged!.instructions).toEqual({ low: rules(1), high: rules(2, 3) });
    expect(merged!.score).toBe(75);
    expect(r.report.trials.filter((t) => t.kind === 'merge').map((t) => t.size)).toEqual([4]);
    expect(g.candidates.filter((c) => c.origin === 'merge')).toHaveLength(1);
    expect(g.metricCalls.used).toBeLessThanOrEqual(80);
  });

  it('never merges without useMerge, or with maxMergeInvocations 0', async () => {
    for (const opts of [{ useMerge: false }, { useMerge: true, maxMergeInvocations: 0 }]) {
      const r = await run(opts);
      expect((r.gepa as GepaReport).candidates.some((c) => c.origin === 'merge'), JSON.stringify(opts)).toBe(false);
      expect(r.report.trials.some((t) => t.kind === 'merge')).toBe(false);
    }
  });

  it('a finished run replayed from its journal does no work and reports the same', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gepa-replay-'));
    try {
      const first = { n: 0 };
      const r1 = await run({ useMerge: true, runDir: dir }, first);
      expect(first.n).toBeGreaterThan(0);
      const again = { n: 0 };
      const r2 = await run({ useMerge: true, runDir: dir }, again);
      expect(again.n).toBe(0);
      expect(r2.gepa).toEqual(r1.gepa);
      expect(r2.report.trials.map(({ resumed: _r, ...t }) => t)).toEqual(r1.report.trials);
      expect(r2.report.trials.every((t) => t.resumed === true)).toBe(true);
      expect(r1.report.trials.some((t) => t.resumed)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('GEPA cut short', () => {
  it('returns the best candidate found so far, with its report', async () => {
    settings.configure({ lm: task() });
    const { lm } = reflector((_k, current) => (current === 'Answer.' ? rules(0, 1) : `${current} ${ruleText(2)}`));
    const ac = new AbortController();
    const r = await new GEPA({ maxMetricCalls: 200, reflectionLm: lm }).compile(new Solve('Answer.'), {
      trainset: [item(0, 1), item(1, 2), item(2, 3)],
      valset: [item(0, 4), item(1, 5), item(2, 6), item(3, 7)],
      metric: rulesMetric,
      seed: 1,
      signal: ac.signal,
      onProgress: (e) => {
        if (e.phase === 'trial') ac.abort();
      },
    });
    expect(r.report.cutShort).toBe(true);
    const g = r.gepa as GepaReport;
    expect(g.candidates.map((c) => c.score)).toEqual([0, 50]);
    expect(r.program.solve.signature.instructions).toBe(rules(0, 1));
    expect(r.report.bestScore).toBe(50);
  });
});

describe('GEPA reflection prompt (golden)', () => {
  it('asks with its own signature and instructions', () => {
    const sig = REFLECTION_SIGNATURE.toJSON();
    expect(sig.fields.map((f) => [f.role, f.name, f.description])).toEqual([
      ['input', 'current_instruction', 'The instruction the assistant was given'],
      ['input', 'examples_with_feedback', "Inputs, the outputs the assistant produced, and the evaluator's feedback on each"],
      ['output', 'new_instruction', 'The improved instruction, complete and self-contained'],
    ]);
    expect(sig.instructions).toBe(
      'You improve the instruction given to an assistant that performs one step of a task. ' +
        'You see the instruction it was given and several of its real inputs, the outputs it produced, and feedback on each output from the evaluator. ' +
        'Work out the task and the format of its inputs from the examples. From the outputs and the feedback, find what went wrong and what went right, ' +
        'and every piece of domain knowledge or rule the feedback reveals that the assistant could not know from its inputs alone; keep any strategy that worked. ' +
        'Write a new, complete, self-contained instruction that includes all of this. Answer with the instruction text only.',
    );
  });

  it('shows values as text: strings as they are, the rest as indented JSON', () => {
    expect(formatReflectionRecords([{ inputs: { n: 3, none: null, list: ['a'] }, outputs: { ok: true }, feedback: 'f', score: 1 }])).toBe(
      '# Example 1\n## Inputs\n#### n\n3\n\n#### none\nnull\n\n#### list\n[\n  "a"\n]\n\n## Generated Outputs\n#### ok\ntrue\n\n## Feedback\nf',
    );
    expect(formatReflectionRecords([{ inputs: { u: undefined }, outputs: {}, feedback: '', score: 0 }])).toBe('# Example 1\n## Inputs\n#### u\nundefined\n\n## Generated Outputs\n\n\n## Feedback\n');
    expect(formatReflectionRecords([])).toBe('');
  });
});
