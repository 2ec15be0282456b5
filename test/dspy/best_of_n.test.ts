import { afterEach, describe, expect, it } from 'vitest';
import { AllAttemptsFailedError, BestOfN, ChainOfThought, Module, Predict, Prediction, Refine, settings, withTrace } from '../../src/dspy/index.js';
import { DummyLM } from '../../src/dspy/dummy_lm.js';

afterEach(() => settings.reset());

const answerLength = (_inputs: Record<string, unknown>, p: Prediction) => String(p.get('answer')).length;

describe('BestOfN', () => {
  it('returns the first attempt reaching the threshold; attempts use rollout ids 0.. and temperature 1.0', async () => {
    const lm = new DummyLM([{ answer: 'a' }, { answer: 'bbb' }, { answer: 'cc' }]);
    const best = new BestOfN(new Predict('question -> answer', { lm }), { n: 3, rewardFn: answerLength, threshold: 3 });
    expect((await best.call({ question: 'q' })).get('answer')).toBe('bbb');
    expect(lm.calls).toBe(2);
    expect(lm.history.map((h) => [h.options?.rolloutId, h.options?.temperature])).toEqual([
      [0, 1],
      [1, 1],
    ]);
  });

  it('returns the best attempt when none reaches the threshold, and records only its trace', async () => {
    const lm = new DummyLM([{ answer: 'a' }, { answer: 'bbb' }, { answer: 'cc' }]);
    const p = new Predict('question -> answer', { lm });
    const best = new BestOfN(p, { n: 3, rewardFn: answerLength, threshold: 10 });
    const { result, trace } = await withTrace(() => best.call({ question: 'q' }));
    expect(result.get('answer')).toBe('bbb');
    expect(lm.calls).toBe(3);
    expect(trace.map((t) => t.outputs)).toEqual([{ answer: 'bbb' }]);
    expect(trace[0]!.predictor).toBe(p);
  });

  it('starts from the rollout id in effect', async () => {
    const lm = new DummyLM([{ answer: 'a' }, { answer: 'b' }]);
    const best = new BestOfN(new Predict('question -> answer', { lm }), { n: 2, rewardFn: () => 0, threshold: 1 });
    await settings.context({ rolloutId: 7 }, () => best.call({ question: 'q' }));
    expect(lm.history.map((h) => h.options?.rolloutId)).toEqual([7, 8]);
  });

  it('tolerates failCount failed attempts, then rethrows; all failed is an error', async () => {
    class Flaky extends Module {
      async forward(): Promise<Prediction> {
        if (settings.current().rolloutId === 0) throw new Error('boom');
        return new Prediction({ answer: 'ok' });
      }
    }
    expect((await new BestOfN(new Flaky(), { n: 2, rewardFn: () => 1, threshold: 1 }).call({})).get('answer')).toBe('ok');
    await expect(new BestOfN(new Flaky(), { n: 2, rewardFn: () => 1, threshold: 1, failCount: 0 }).call({})).rejects.toThrow('boom');
    class Broken extends Module {
      async forward(): Promise<Prediction> {
        throw new Error('always');
      }
    }
    const err = await new BestOfN(new Broken(), { n: 3, rewardFn: () => 1, threshold: 1 }).call({}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AllAttemptsFailedError);
    expect((err as Error).message).toMatch(/all 3 attempts failed: always/);
  });

  it("names the wrapped module's predictors under `module`, as DSPy", () => {
    expect(new BestOfN(new ChainOfThought('q -> a'), { n: 2, rewardFn: () => 1, threshold: 1 }).namedPredictors().map(([n]) => n)).toEqual(['module.predict']);
  });
});

describe('Refine', () => {
  it('asks for advice after a failed attempt and passes it to the next attempt as the hint_ input', async () => {
    const lm = new DummyLM([
      { answer: 'Lyon' },
      { discussion: 'It named the wrong city.', advice: { self: 'Answer with the capital: Paris.' } },
      { answer: 'Paris' },
    ]);
    settings.configure({ lm });
    const p = new Predict('question -> answer');
    const refine = new Refine(p, { n: 3, rewardFn: (_i, pred) => (pred.get('answer') === 'Paris' ? 1 : 0), threshold: 1 });
    const { result, trace } = await withTrace(() => refine.call({ question: 'Capital of France?' }));
    expect(result.get('answer')).toBe('Paris');
    expect(lm.calls).toBe(3);
    const feedback = lm.history[1]!.messages;
    expect(feedback[0]!.content).toContain('assign blame to each module that contributed to the final reward being below the threshold');
    expect(feedback.at(-1)!.content).toContain('[[ ## module_names ## ]]\n[\n  "self"\n]');
    expect(feedback.at(-1)!.content).toContain('"module_name": "self"');
    const retry = lm.history[2]!.messages;
    expect(retry[0]!.content).toContain('`hint_` (str): A hint to the module from an earlier run');
    expect(retry.at(-1)!.content).toContain('[[ ## hint_ ## ]]\nAnswer with the capital: Paris.');
    expect(lm.history[0]!.messages.at(-1)!.content).not.toContain('hint_');
    // The trace holds the winning attempt only: neither the first attempt nor the feedback call.
    expect(trace.map((t) => t.outputs)).toEqual([{ answer: 'Paris' }]);
  });
});
