// MIPROv2 behaviour a user relies on: proposed instructions are really tried and kept when they
// score best; the proposer is grounded in what the *_aware flags say; the defaults.
import { afterEach, describe, expect, it } from 'vitest';
import { Module, Prediction, settings } from '../../src/dspy/index.js';
import type { ChatMessage, LM } from '../../src/lm/types.js';
import { DummyLM } from '../../src/dspy/dummy_lm.js';
import { ManagedLM } from '../../src/lm/managed.js';
import { PriceTable } from '../../src/lm/prices.js';
import { MIPROv2, type MIPROv2Options } from '../../src/optimizers/index.js';
import { exact, followLM, Nested, oracle, QA, qa } from './helpers.js';

afterEach(() => settings.reset());

const data = { trainset: qa(10), valset: qa(12, 10) };
const ORIGINAL = new QA().predict.signature.instructions;
const SUMMARY = 'The questions are numbered and the answers echo the number.';

/** A prompt model answering like a person would: a summary, observations, instructions. */
function promptModel(): { lm: LM; requests: ChatMessage[][] } {
  const follow = followLM();
  const requests: ChatMessage[][] = [];
  const lm: LM = {
    provider: follow.provider,
    model: follow.model,
    generate: async (m, o) => {
      requests.push(m);
      const r = await follow.generate(m, o);
      const text = r.text
        .replace(/proposed_instruction-([0-9a-f]{8})/g, 'Answer the question in a few words (variant $1).')
        .replace(/summary-[0-9a-f]{8}/g, SUMMARY)
        .replace(/observations-[0-9a-f]{8}/g, 'Short questions.');
      return { ...r, text };
    },
  };
  return { lm, requests };
}

/** The task LM: right only when the system prompt no longer holds the original instruction. */
function onlyProposalsWork() {
  const task = oracle(22);
  const gen = task.dummy.generate.bind(task.dummy);
  task.dummy.generate = async (messages, o) => {
    const r = await gen(messages, o);
    return messages[0]!.content.includes(ORIGINAL) ? { ...r, text: '[[ ## answer ## ]]\nno idea\n\n[[ ## completed ## ]]' } : r;
  };
  settings.configure({ lm: task.lm });
  return task;
}

const proposals = (requests: ChatMessage[][]) => requests.filter((m) => m[0]!.content.includes('proposed_instruction'));
const lastUser = (m: ChatMessage[]) => m[m.length - 1]!.content;

describe('MIPROv2 proposals', () => {
  it('keeps a proposed instruction when it scores better than the original', async () => {
    onlyProposalsWork();
    const { lm } = promptModel();
    const opt = new MIPROv2({ auto: null, numCandidates: 3, numTrials: 6, promptModel: lm, minibatch: false, maxBootstrappedDemos: 0, maxLabeledDemos: 0 });
    const { program, report } = await opt.compile(new QA(), { ...data, metric: exact, seed: 1 });
    expect(report.baselineScore).toBe(0);
    expect(report.bestScore).toBe(100);
    expect(program.predict.signature.instructions).toMatch(/^Answer the question in a few words \(variant [0-9a-f]{8}\)\.$/);
  });

  it('asks the prompt model for numCandidates - 1 instructions per predictor, each grounded in the summary, structure, demos and a tip', async () => {
    onlyProposalsWork();
    const { lm, requests } = promptModel();
    const opt = new MIPROv2({ auto: null, numCandidates: 4, numTrials: 3, promptModel: lm, minibatch: false, maxBootstrappedDemos: 1, maxLabeledDemos: 2 });
    await opt.compile(new QA(), { ...data, metric: exact, seed: 3 });
    const asked = proposals(requests);
    expect(asked).toHaveLength(3);
    for (const m of asked) {
      const text = lastUser(m);
      expect(text).toContain(SUMMARY);
      expect(text).toContain('predict: question -> answer');
      expect(text).toMatch(/Example 1: \{/);
    }
    // Later proposals see the earlier ones, so they are not asked for the same thing again.
    expect(lastUser(asked[2]!)).toContain('1. Answer the question in a few words');
    expect(lastUser(asked[2]!)).toContain('2. Answer the question in a few words');
    // The dataset summary was written from the trainset before the proposals.
    expect(requests.findIndex((m) => m[0]!.content.includes('observations'))).toBeLessThan(requests.indexOf(asked[0]!));
  });

  it('dataAware, programAware and fewshotAware false leave those groundings out (and no summary is written)', async () => {
    onlyProposalsWork();
    const { lm, requests } = promptModel();
    const opt = new MIPROv2({
      auto: null,
      numCandidates: 3,
      numTrials: 2,
      promptModel: lm,
      minibatch: false,
      maxBootstrappedDemos: 1,
      maxLabeledDemos: 2,
      dataAware: false,
      programAware: false,
      fewshotAware: false,
      tipAware: false,
    });
    await opt.compile(new QA(), { ...data, metric: exact, seed: 3 });
    const asked = proposals(requests);
    expect(asked).toHaveLength(2);
    expect(requests.filter((m) => m[0]!.content.includes('observations'))).toHaveLength(0);
    for (const m of asked) {
      const text = lastUser(m);
      expect(text).not.toContain(SUMMARY);
      expect(text).not.toContain('instructions: ');
      expect(text).not.toMatch(/Example 1: \{/);
    }
  });

  it('a failing proposal counts as an error and keeps the original instruction for that candidate', async () => {
    settings.configure({ lm: oracle(22).lm });
    const broken: LM = {
      provider: 'test',
      model: 'broken',
      generate: async () => {
        throw new Error('prompt model down');
      },
    };
    const opt = new MIPROv2({ auto: null, numCandidates: 3, numTrials: 2, promptModel: broken, minibatch: false, maxBootstrappedDemos: 0, maxLabeledDemos: 0 });
    const { program, report } = await opt.compile(new QA(), { ...data, metric: exact, seed: 1 });
    // The summary and both proposals failed.
    expect(report.errors).toBe(3);
    expect(program.predict.signature.instructions).toBe(ORIGINAL);
  });
});

describe('MIPROv2 settings', () => {
  it('auto light: 6 candidates and 10 trials for one predictor with demos; the valset is split off the trainset when absent', () => {
    settings.configure({ lm: oracle(2).lm });
    const est = new MIPROv2().estimate(new QA(), { trainset: qa(20), metric: exact });
    expect(est.numCandidates).toBe(6);
    expect(est.numTrials).toBe(10);
    expect(est.valsetSize).toBe(16);
    expect(est.trainsetSize).toBe(4);
    const medium = new MIPROv2({ auto: 'medium' }).estimate(new QA(), { trainset: qa(20), metric: exact });
    expect([medium.numCandidates, medium.numTrials]).toEqual([12, 18]);
    const heavy = new MIPROv2({ auto: 'heavy' }).estimate(new QA(), { trainset: qa(20), metric: exact });
    expect([heavy.numCandidates, heavy.numTrials]).toEqual([18, 27]);
    // DSPy's formula floor(max(2 * V * log2(N), 1.5 * N)), V = 2 variables per predictor with demos.
    // Zero-shot: only the instruction is a variable.
    const zero = new MIPROv2({ auto: 'light', maxBootstrappedDemos: 0, maxLabeledDemos: 0 }).estimate(new QA(), { trainset: qa(20), metric: exact });
    expect(zero.numTrials).toBe(9);
  });

  it("defaults to DSPy's MIPROv2 settings (compile's defaults included)", () => {
    expect(new MIPROv2().o).toEqual({
      auto: 'light',
      numCandidates: undefined,
      numTrials: undefined,
      maxBootstrappedDemos: 4,
      maxLabeledDemos: 4,
      maxRounds: 1,
      metricThreshold: undefined,
      maxErrors: 10,
      minibatch: true,
      minibatchSize: 35,
      minibatchFullEvalSteps: 5,
      promptModel: undefined,
      taskModel: undefined,
      initTemperature: 1,
      viewDataBatchSize: 10,
      dataAware: true,
      programAware: true,
      tipAware: true,
      fewshotAware: true,
      nStartupTrials: 10,
      dryRun: false,
      callsPerForward: undefined,
    });
    // numCandidates alone means no preset; auto: undefined is the default preset.
    expect(new MIPROv2({ numCandidates: 3 }).o.auto).toBeNull();
    expect(new MIPROv2({ auto: undefined }).o.auto).toBe('light');
    expect(new MIPROv2({ auto: null, numCandidates: 3, numTrials: 4 }).o).toMatchObject({ auto: null, numCandidates: 3, numTrials: 4 });
  });

  it("the presets give DSPy's candidate and trial numbers (AUTO_RUN_SETTINGS and its trial formula)", () => {
    settings.configure({ lm: oracle(2).lm });
    const data = { trainset: qa(10), valset: qa(1200, 10), metric: exact };
    const shape = (o: MIPROv2Options, program: Module = new QA()) => {
      const e = new MIPROv2({ dataAware: false, ...o }).estimate(program, data);
      return { demoSets: e.numCandidates, trials: e.numTrials, proposals: e.calls.proposal, valset: e.valsetSize };
    };
    // One predictor with demos: N demo sets, N / 2 instructions (N / 2 - 1 proposed), 2 variables.
    expect(shape({ auto: 'light' })).toEqual({ demoSets: 6, trials: 10, proposals: 2, valset: 100 });
    expect(shape({ auto: 'medium' })).toEqual({ demoSets: 12, trials: 18, proposals: 5, valset: 300 });
    expect(shape({ auto: 'heavy' })).toEqual({ demoSets: 18, trials: 27, proposals: 8, valset: 1000 });
    // Zero-shot: N instructions, one variable per predictor.
    const zeroShot = { maxBootstrappedDemos: 0, maxLabeledDemos: 0 };
    expect(shape({ auto: 'light', ...zeroShot })).toMatchObject({ trials: 9, proposals: 5 });
    expect(shape({ auto: 'medium', ...zeroShot })).toMatchObject({ trials: 18, proposals: 11 });
    expect(shape({ auto: 'heavy', ...zeroShot })).toMatchObject({ trials: 27, proposals: 17 });
    // Two predictors with demos: 4 variables.
    expect(shape({ auto: 'light' }, new Nested())).toMatchObject({ trials: 20, proposals: 4 });
    expect(shape({ auto: 'medium' }, new Nested())).toMatchObject({ trials: 28, proposals: 10 });
    expect(shape({ auto: 'heavy' }, new Nested())).toMatchObject({ trials: 33, proposals: 16 });
    // Without a preset, numCandidates is the number of both (and the trials follow the formula).
    expect(shape({ auto: null, numCandidates: 6 })).toEqual({ demoSets: 6, trials: 10, proposals: 5, valset: 1200 });
  });

  it('minibatches default to 35 examples, capped at the valset', () => {
    const est = new MIPROv2({ auto: null, numCandidates: 2 }).estimate(new QA(), { trainset: qa(4), valset: qa(50, 4), metric: exact });
    expect(est.minibatchSize).toBe(35);
    const small = new MIPROv2({ auto: null, numCandidates: 2 }).estimate(new QA(), { trainset: qa(4), valset: qa(20, 4), metric: exact });
    expect(small.minibatchSize).toBe(20);
    const off = new MIPROv2({ auto: null, numCandidates: 2, minibatch: false }).estimate(new QA(), { trainset: qa(4), valset: qa(20, 4), metric: exact });
    expect(off.minibatchSize).toBe(20);
    expect(off.fullEvals).toBe(0);
  });

  it('the light preset caps the valset at 100 examples', () => {
    const est = new MIPROv2().estimate(new QA(), { trainset: qa(4), valset: qa(150, 4), metric: exact });
    expect(est.valsetSize).toBe(100);
  });

  it('rejects contradictory settings', () => {
    expect(() => new MIPROv2({ numCandidates: 3, numTrials: 2, auto: 'light' })).toThrow();
    expect(() => new MIPROv2({ auto: null })).toThrow();
    expect(() => new MIPROv2({ auto: 'huge' as never })).toThrow();
    expect(() => new MIPROv2({ auto: null, numCandidates: 0 }).estimate(new QA(), { ...data, metric: exact })).toThrow();
    expect(() => new MIPROv2().estimate(new QA(), { trainset: qa(1), metric: exact })).toThrow();
    expect(() => new MIPROv2().estimate(new QA(), { trainset: qa(4), valset: [], metric: exact })).toThrow();
    class Empty extends Module {
      async forward(): Promise<Prediction> {
        return new Prediction({});
      }
    }
    expect(() => new MIPROv2().estimate(new Empty(), { ...data, metric: exact })).toThrow(/no predictors/);
  });
});

describe('MIPROv2 runs', () => {
  it('runs the program with taskModel and proposes with promptModel, leaving settings.lm alone', async () => {
    const global = oracle(22);
    settings.configure({ lm: global.lm });
    const task = oracle(22);
    const { lm: prompt, requests } = promptModel();
    const opt = new MIPROv2({ auto: null, numCandidates: 2, numTrials: 2, promptModel: prompt, taskModel: task.lm, minibatch: false, maxBootstrappedDemos: 1, maxLabeledDemos: 1 });
    const { report } = await opt.compile(new QA(), { ...data, metric: exact, seed: 1 });
    expect(global.dummy.calls).toBe(0);
    expect(task.dummy.calls).toBeGreaterThan(0);
    expect(requests.length).toBeGreaterThan(0);
    expect(report.baselineScore).toBe(100);
  });

  it('zero-shot (no demos at all) searches instructions only: the result has no demos', async () => {
    onlyProposalsWork();
    const { lm } = promptModel();
    const opt = new MIPROv2({ auto: null, numCandidates: 3, numTrials: 4, promptModel: lm, minibatch: false, maxBootstrappedDemos: 0, maxLabeledDemos: 0 });
    const { program, report } = await opt.compile(new QA(), { ...data, metric: exact, seed: 2 });
    expect(program.predict.demos).toEqual([]);
    expect(report.trials.every((t) => t.params?.['predict']?.demos === 0)).toBe(true);
  });

  it('without minibatches every trial is a full evaluation on the valset, and the best one wins', async () => {
    onlyProposalsWork();
    const { lm } = promptModel();
    const opt = new MIPROv2({ auto: null, numCandidates: 3, numTrials: 5, promptModel: lm, minibatch: false, maxBootstrappedDemos: 0, maxLabeledDemos: 0 });
    const { report } = await opt.compile(new QA(), { ...data, metric: exact, seed: 2 });
    expect(report.trials.map((t) => t.kind)).toEqual(['baseline', 'full', 'full', 'full', 'full', 'full']);
    expect(report.trials.every((t) => t.size === data.valset.length)).toBe(true);
    expect(report.bestScore).toBe(Math.max(...report.trials.map((t) => t.score)));
  });

  it('with minibatches, the best combination not yet fully evaluated is scored on the full valset every minibatchFullEvalSteps trials and after the last', async () => {
    onlyProposalsWork();
    const { lm } = promptModel();
    const opt = new MIPROv2({ auto: null, numCandidates: 3, numTrials: 7, promptModel: lm, minibatchSize: 4, minibatchFullEvalSteps: 3, maxBootstrappedDemos: 0, maxLabeledDemos: 0 });
    const { program, report } = await opt.compile(new QA(), { ...data, metric: exact, seed: 2 });
    const kinds = report.trials.map((t) => t.kind);
    expect(kinds.filter((k) => k === 'minibatch')).toHaveLength(7);
    expect(report.trials.filter((t) => t.kind === 'minibatch').every((t) => t.size === 4)).toBe(true);
    // Full evaluations come right after trials 3, 6 and 7 (when a combination is left to evaluate).
    const fullAfter = kinds.flatMap((k, i) => (k === 'full' ? [kinds.slice(0, i).filter((x) => x === 'minibatch').length] : []));
    expect(fullAfter.every((n) => n === 3 || n === 6 || n === 7)).toBe(true);
    expect(fullAfter.length).toBeGreaterThan(0);
    // Only full-valset scores decide: the best is a proposal scoring 100 on the whole valset.
    expect(report.bestScore).toBe(100);
    expect(program.predict.signature.instructions).not.toBe(ORIGINAL);
  });
});


describe('MIPROv2 estimate (dry run)', () => {
  const opts = { trainset: qa(10), valset: qa(12, 10), metric: exact };
  const mipro = (o: Record<string, unknown> = {}) =>
    new MIPROv2({ auto: null, numCandidates: 4, numTrials: 5, maxBootstrappedDemos: 2, maxLabeledDemos: 2, minibatchSize: 5, minibatchFullEvalSteps: 2, ...o });

  it('counts bootstrap walks, proposals and evaluations as the run makes them', () => {
    settings.configure({ lm: oracle(2).lm });
    const e = mipro().estimate(new QA(), opts);
    // Demo sets -3..0: two bootstrapped walks (-1 with 2 demos, 0 with 1 or 2) of at most 10 examples.
    expect(e.calls.bootstrap.max).toBe(20);
    expect([3, 4]).toContain(e.calls.bootstrap.expected);
    // The summary (one batch of 10 + the summary call) and 3 proposals.
    expect(e.calls.proposal).toBe(2 + 3);
    // Baseline 12 + 5 minibatches of 5 + full evals after trials 2, 4 and 5.
    expect(e.fullEvals).toBe(3);
    expect(e.calls.evaluation).toBe(12 + 25 + 36);
    expect(e.calls.total).toEqual({ expected: e.calls.bootstrap.expected + 5 + 73, max: 20 + 5 + 73 });
    expect(e.costUsd).toBeUndefined(); // the dummy LM has no price
    expect(e.summary).toMatch(/cost unknown/);
    expect(e.tokens.input).toBeGreaterThan(0);
    expect(e.tokens.output).toBeGreaterThan(0);
  });

  it('estimates tokens from the example size and prices them; the summary says it all', () => {
    settings.configure({ lm: oracle(2).lm });
    const e = mipro().estimate(new QA(), opts);
    // Mean example: (10 x 34 + 12 x 35) / 22 chars. A task call carries ~800 chars of frame and
    // 4 demos + the input, ~4 chars a token: ceil((800 + 5 x 34.55) / 4) = 244 in, ceil(34.55 / 8)
    // + 10 = 15 out. A proposal: ceil((2500 + 5 x 34.55) / 4) = 669 in, 120 out.
    const task = e.calls.bootstrap.expected + e.calls.evaluation;
    expect(e.tokens).toEqual({ input: task * 244 + 5 * 669, output: task * 15 + 5 * 120 });
    expect(e.summary).toBe(
      `MIPROv2 dry run: 4 candidates, 5 trials (+3 full evals) on 12 val / 10 train examples; ` +
        `LM calls ~${e.calls.total.expected} (at most ${e.calls.total.max}: bootstrap ${e.calls.bootstrap.expected}-20, proposals 5, evaluation 73); ` +
        `~${e.tokens.input} input + ${e.tokens.output} output tokens; cost unknown (LM not priced)`,
    );
    expect(e).toMatchObject({ numCandidates: 4, numTrials: 5, valsetSize: 12, trainsetSize: 10, minibatchSize: 5, predictors: 1, callsPerForward: 1 });
    // Zero-shot: no demos in the prompt.
    const zero = mipro({ maxBootstrappedDemos: 0, maxLabeledDemos: 0 }).estimate(new QA(), opts);
    expect(zero.tokens.input).toBe(zero.calls.evaluation * 209 + 5 * 669);

    // claude-haiku-4-5 ($1 / $5 per MTok): the task and the prompt model priced apart.
    const haiku = new ManagedLM(Object.assign(DummyLM.followExamples(), { model: 'claude-haiku-4-5' }), { cache: false, prices: new PriceTable() });
    const pricedTask = mipro({ taskModel: haiku, promptModel: haiku }).estimate(new QA(), opts);
    const propUsd = (5 * 669 * 1 + 5 * 120 * 5) / 1e6;
    const taskUsd = (calls: number) => (calls * 244 * 1 + calls * 15 * 5) / 1e6;
    expect(pricedTask.costUsd?.expected).toBeCloseTo(taskUsd(task) + propUsd, 12);
    expect(pricedTask.costUsd?.max).toBeCloseTo(taskUsd(20 + 73) + propUsd, 12);
    expect(pricedTask.summary).toMatch(new RegExp(`; ~\\$${pricedTask.costUsd!.expected.toFixed(4)} \\(at most \\$${pricedTask.costUsd!.max.toFixed(4)}\\)$`));
    // An unpriced prompt model leaves the cost unknown.
    expect(mipro({ taskModel: haiku }).estimate(new QA(), opts).costUsd).toBeUndefined();
  });

  it('scales with calls per forward, rounds, data awareness and minibatching', () => {
    settings.configure({ lm: oracle(2).lm });
    const two = mipro({ callsPerForward: 2 }).estimate(new QA(), opts);
    expect(two.calls.evaluation).toBe(2 * 73);
    expect(two.calls.bootstrap.max).toBe(40);
    expect(mipro({ maxRounds: 3 }).estimate(new QA(), opts).calls.bootstrap.max).toBe(60);
    expect(mipro({ dataAware: false }).estimate(new QA(), opts).calls.proposal).toBe(3);
    const full = mipro({ minibatch: false }).estimate(new QA(), opts);
    expect(full.fullEvals).toBe(0);
    expect(full.calls.evaluation).toBe(12 + 5 * 12);
    const zero = mipro({ maxBootstrappedDemos: 0, maxLabeledDemos: 0 }).estimate(new QA(), opts);
    expect(zero.calls.bootstrap).toEqual({ expected: 0, max: 0 });
    const labeledOnly = mipro({ maxBootstrappedDemos: 0 }).estimate(new QA(), opts);
    expect(labeledOnly.calls.bootstrap).toEqual({ expected: 0, max: 0 });
  });

  it('a dry run makes no call and returns the student unchanged', async () => {
    const { lm, dummy } = oracle(22);
    settings.configure({ lm });
    const events: string[] = [];
    const student = new QA();
    const { program, report } = await mipro({ dryRun: true }).compile(student, { ...opts, onProgress: (e) => events.push(e.phase) });
    expect(dummy.calls).toBe(0);
    expect(events).toEqual(['dry_run']);
    expect(report.trials).toEqual([]);
    expect(report.usage.calls).toBe(0);
    expect(program).not.toBe(student);
    expect(report.estimate?.numTrials).toBe(5);
  });
});

describe('MIPROv2 progress and splits', () => {
  it('reports each stage in order: demo sets, proposals, trials with full evaluations, done', async () => {
    onlyProposalsWork();
    const { lm } = promptModel();
    const events: Array<[string, number | undefined, number | undefined]> = [];
    await new MIPROv2({ auto: null, numCandidates: 3, numTrials: 4, promptModel: lm, minibatchSize: 4, minibatchFullEvalSteps: 2, maxBootstrappedDemos: 1, maxLabeledDemos: 1 }).compile(new QA(), {
      ...data,
      metric: exact,
      seed: 2,
      onProgress: (e) => events.push([e.phase, e.trial, e.totalTrials]),
    });
    const of = (phase: string) => events.filter((e) => e[0] === phase);
    expect(of('demos')).toEqual([
      ['demos', 1, 3],
      ['demos', 2, 3],
      ['demos', 3, 3],
    ]);
    expect(of('propose')).toEqual([
      ['propose', 1, 2],
      ['propose', 2, 2],
    ]);
    expect(of('trial').map((e) => e[1])).toEqual([1, 2, 3, 4]);
    expect(of('trial').every((e) => e[2] === 4)).toBe(true);
    expect(of('full_eval').every((e) => e[1] === 2 || e[1] === 4)).toBe(true);
    const order = events.map((e) => e[0]).filter((p) => p !== 'evaluate' && p !== 'bootstrap').filter((p, i, a) => p !== a[i - 1]);
    expect(order.slice(0, 3)).toEqual(['demos', 'propose', 'trial']);
    expect(order.at(-1)).toBe('done');
  });

  it('without a valset, the last 80% of the trainset is the valset and the first 20% the trainset', async () => {
    settings.configure({ lm: oracle(30).lm });
    const e = new MIPROv2({ auto: null, numCandidates: 2 }).estimate(new QA(), { trainset: qa(10), metric: exact });
    expect([e.trainsetSize, e.valsetSize]).toEqual([2, 8]);
    const small = new MIPROv2({ auto: null, numCandidates: 2 }).estimate(new QA(), { trainset: qa(2), metric: exact });
    expect([small.trainsetSize, small.valsetSize]).toEqual([1, 1]);
  });
});
