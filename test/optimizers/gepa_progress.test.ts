/**
 * What a user watching a GEPA run sees: one progress event per iteration with its number, the
 * score it measured and the best so far; a skipped iteration reports its parent's score; the
 * run's warnings are events too; and the merge that cannot do as well as both parents on the
 * subsample is rejected and never scored on the valset.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Example, Module, Predict, settings, type Prediction } from '../../src/dspy/index.js';
import { ManagedLM } from '../../src/lm/managed.js';
import type { LM } from '../../src/lm/types.js';
import { GEPA, type GepaReport, type ProgressEvent } from '../../src/optimizers/index.js';
import { rulesMetric, rulesTaskLM } from '../../bench/support/rules_task.mjs';
import { item, Router, rules } from './gepa_fixtures.js';

afterEach(() => settings.reset());

const task = () => new ManagedLM(rulesTaskLM(), { cache: false });

class Solve extends Module {
  solve = new Predict('question -> answer');
  constructor(instruction: string) {
    super();
    this.solve.signature = this.solve.signature.withInstructions(instruction);
  }
  forward(inputs: Record<string, unknown>): Promise<Prediction> {
    return this.solve.call(inputs);
  }
}

const proposing = (text: (n: number) => string): LM => {
  let n = 0;
  return {
    provider: 'simulated',
    model: 'reflector',
    async generate() {
      n += 1;
      return { text: `[[ ## new_instruction ## ]]\n${text(n)}\n\n[[ ## completed ## ]]`, usage: { inputTokens: 1, outputTokens: 1 }, model: 'reflector', cached: false, costUsd: 0 };
    },
  };
};

describe('GEPA progress', () => {
  it('reports each iteration: its number, the child\'s minibatch score, and the best validation score so far', async () => {
    settings.configure({ lm: task() });
    const events: ProgressEvent[] = [];
    // First a child that knows categories 0 and 1, then one that knows nothing new.
    const lm = proposing((n) => (n === 1 ? rules(0, 1) : 'Be careful.'));
    await new GEPA({ maxMetricCalls: 4 + 10 + 10, reflectionLm: lm, skipPerfectScore: false }).compile(new Solve('Answer.'), {
      trainset: [item(0, 1), item(1, 2), item(2, 3)],
      valset: [item(0, 4), item(1, 5), item(2, 6), item(3, 7)],
      metric: rulesMetric,
      seed: 1,
      onProgress: (e) => events.push(e),
    });
    expect(events.filter((e) => e.phase !== 'done').map((e) => [e.phase, e.trial, e.score, e.bestScore])).toEqual([
      ['full_eval', 0, 0, 0],
      ['trial', 1, 66.67, 50],
      ['trial', 2, 0, 50],
    ]);
    expect(events.at(-1)).toMatchObject({ phase: 'done', bestScore: 50 });
  });

  it('a skipped iteration reports its parent\'s minibatch score; a run with nothing accepted ends with a warning event', async () => {
    settings.configure({ lm: task() });
    const events: ProgressEvent[] = [];
    const r = await new GEPA({ maxMetricCalls: 4 + 10 }).compile(new Solve(rules(0, 1, 2, 3)), {
      trainset: [item(0, 1), item(1, 2), item(2, 3)],
      valset: [item(0, 4), item(1, 5), item(2, 6), item(3, 7)],
      metric: rulesMetric,
      seed: 1,
      onProgress: (e) => events.push(e),
    });
    const g = r.gepa as GepaReport;
    expect(g.iterations).toBe(1);
    expect(events.map((e) => [e.phase, e.trial, e.score])).toEqual([
      ['full_eval', 0, 100],
      ['trial', 1, 100],
      ['warning', undefined, undefined],
      ['done', undefined, undefined],
    ]);
    expect(events[2]?.message).toBe(`GEPA: ${g.warnings[0]}`);
    expect(r.report.trials.map((t) => [t.kind, t.score, t.size])).toEqual([
      ['baseline', 100, 4],
      ['skip', 100, 3],
    ]);
  });

  it('the budget warning is the first event of a run, before any LM call', async () => {
    settings.configure({ lm: task() });
    const events: ProgressEvent[] = [];
    const r = await new GEPA({ maxMetricCalls: 4 }).compile(new Solve('Answer.'), {
      trainset: [item(0, 1), item(1, 2), item(2, 3)],
      valset: [item(0, 4), item(1, 5), item(2, 6), item(3, 7)],
      metric: rulesMetric,
      onProgress: (e) => events.push(e),
    });
    expect(events[0]).toMatchObject({ phase: 'warning', calls: 0 });
    const g = r.gepa as GepaReport;
    expect(g.warnings).toEqual([
      'the budget of 4 metric calls cannot cover one full round (14: the seed on 4 validation examples, parent and child on a minibatch of 3, and the child on the validation set); the run can only score the program as written',
      'no proposal was accepted: the program is the one you wrote',
    ]);
    expect(events[0]?.message).toBe(`GEPA: ${g.warnings[0]}`);
  });
});


describe('GEPA merge acceptance', () => {
  it('rejects a merge that scores below one of its parents on the subsample, and never scores it on the valset', async () => {
    // As in gepa_semantics' merge: A rewrites `low` to know category 1 (forgetting 0), B extends
    // `high` to know 3. The valset holds two examples of category 0: B (0, 0, 2, 3) beats the
    // merge (1, 2, 3), so the merge is rejected.
    settings.configure({ lm: task() });
    let n = 0;
    const lm: LM = {
      provider: 'simulated',
      model: 'reflector',
      async generate(_messages, options) {
        n += 1;
        const k = Number(String(options?.rolloutId).split('-')[2]);
        const text = k === 0 ? rules(1) : rules(2, 3);
        return { text: `[[ ## new_instruction ## ]]\n${text}\n\n[[ ## completed ## ]]`, usage: { inputTokens: 1, outputTokens: 1 }, model: 'reflector', cached: false, costUsd: 0 };
      },
    };
    const scored: string[] = [];
    const r = await new GEPA({ maxMetricCalls: 80, reflectionLm: lm, useMerge: true }).compile(new Router(rules(0), rules(2)), {
      trainset: [item(1, 2), item(3, 7), item(2, 3)],
      valset: [item(0, 4), item(0, 8), item(1, 5), item(2, 6), item(3, 9)],
      metric: (ex: Example, pred: Prediction) => (scored.push(String(ex.get('question'))), rulesMetric(ex, pred)),
      seed: 5,
    });
    const g = r.gepa as GepaReport;
    expect(n).toBeGreaterThan(0);
    const merges = r.report.trials.filter((t) => t.kind === 'merge');
    expect(merges.length).toBeGreaterThan(0);
    expect(merges.map((t) => [t.score, t.size])).toEqual(merges.map(() => [60, 5]));
    expect(g.candidates.some((c) => c.origin === 'merge')).toBe(false);
    // Every trial after a merge is a reflective one: no `full` pass follows a merge.
    r.report.trials.forEach((t, i) => {
      if (t.kind === 'merge') expect(r.report.trials[i + 1]?.kind).not.toBe('full');
    });
    expect(g.metricCalls.used).toBe(scored.length);
  });

  it('tries a merge first on the validation examples where its parents disagree', async () => {
    // Valset categories [0, 0, 1, 2, 3]: A (knows 1, 2) and B (knows 0, 2, 3) disagree on all but
    // the category-2 example. A subsample of 4 is exactly those four: the merge (1, 2, 3) gets 2 of 4.
    settings.configure({ lm: task() });
    const lm: LM = {
      provider: 'simulated',
      model: 'reflector',
      async generate(_messages, options) {
        const k = Number(String(options?.rolloutId).split('-')[2]);
        return { text: `[[ ## new_instruction ## ]]\n${k === 0 ? rules(1) : rules(2, 3)}\n\n[[ ## completed ## ]]`, usage: { inputTokens: 1, outputTokens: 1 }, model: 'reflector', cached: false, costUsd: 0 };
      },
    };
    const r = await new GEPA({ maxMetricCalls: 80, reflectionLm: lm, useMerge: true, mergeSubsampleSize: 4 }).compile(new Router(rules(0), rules(2)), {
      trainset: [item(1, 2), item(3, 7), item(2, 3)],
      valset: [item(0, 4), item(0, 8), item(1, 5), item(2, 6), item(3, 9)],
      metric: rulesMetric,
      seed: 5,
    });
    const merges = r.report.trials.filter((t) => t.kind === 'merge');
    expect(merges.length).toBeGreaterThan(0);
    expect(merges.map((t) => [t.score, t.size])).toEqual(merges.map(() => [50, 4]));
  });
});
