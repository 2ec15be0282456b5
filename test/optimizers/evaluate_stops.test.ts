// Evaluate's stops and replays as a caller sees them: a budget or a provider fault ends the
// evaluation (it is not an item failure), items a journal already holds are taken as they are,
// and progress carries the usage of the meter it runs under.
import { afterEach, describe, expect, it } from 'vitest';
import { settings } from '../../src/dspy/index.js';
import { BudgetExceededError } from '../../src/lm/budget.js';
import { Meter, runWithMeter } from '../../src/lm/meter.js';
import { Evaluate, evaluateProgram, EvaluationError, type ProgressEvent } from '../../src/optimizers/index.js';
import type { EvalHost } from '../../src/optimizers/evaluate.js';
import { exact, oracle, QA, qa } from './helpers.js';

afterEach(() => settings.reset());

const host = (events: unknown[] = []): EvalHost => ({ checkStop() {}, isStop: () => false, progress: (e) => events.push(e) });

describe('Evaluate stops', () => {
  it('a call budget ends the evaluation with BudgetExceededError; no item is scored as a failure', async () => {
    const { lm, dummy } = oracle(6);
    settings.configure({ lm });
    const meter = new Meter({ budget: { maxCalls: 2 } });
    const err = await runWithMeter(meter, () => new Evaluate({ devset: qa(6), metric: exact }).run(new QA())).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BudgetExceededError);
    expect(dummy.calls).toBe(2);
  });

  it('a provider fault that outlived its retries ends the evaluation at once', async () => {
    const { lm, dummy } = oracle(6);
    dummy.generate = async () => {
      throw Object.assign(new Error('overloaded'), { name: 'LMError', retryable: true, kind: 'overloaded' });
    };
    settings.configure({ lm });
    const err = await new Evaluate({ devset: qa(6), metric: exact, maxErrors: 100 }).run(new QA()).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(EvaluationError);
    expect((err as Error).message).toMatch(/overloaded/);
  });

  it('an error that is not a stop is an item failure, counted toward maxErrors', async () => {
    const { lm, dummy } = oracle(6);
    dummy.generate = async () => {
      throw Object.assign(new Error('bad request'), { name: 'LMError', retryable: false, kind: 'invalid_request' });
    };
    settings.configure({ lm });
    const r = await new Evaluate({ devset: qa(3), metric: exact }).run(new QA());
    expect(r.errors).toBe(3);
    expect(r.results.every((x) => x.error?.startsWith('LMError: bad request'))).toBe(true);
  });

  it('runs one item at a time unless told otherwise', async () => {
    const { lm, dummy } = oracle(6, { latencyMs: 5 });
    let inFlight = 0;
    let most = 0;
    const gen = dummy.generate.bind(dummy);
    dummy.generate = async (m, o) => {
      most = Math.max(most, ++inFlight);
      try {
        return await gen(m, o);
      } finally {
        inFlight -= 1;
      }
    };
    settings.configure({ lm });
    await new Evaluate({ devset: qa(6), metric: exact }).run(new QA());
    expect(most).toBe(1);
    await new Evaluate({ devset: qa(6), metric: exact, concurrency: 3 }).run(new QA());
    expect(most).toBe(3);
  });
});

describe('evaluateProgram with journaled items', () => {
  it('takes known items as they are (scores and errors) and runs only the others', async () => {
    const { lm, dummy } = oracle(4);
    settings.configure({ lm });
    const committed: number[] = [];
    const known = (i: number) => (i === 0 ? { score: 1 } : i === 1 ? { score: 0, error: 'Error: earlier failure' } : undefined);
    const r = await evaluateProgram(host(), new QA(), qa(4), exact, { concurrency: 1, maxErrors: 10, failureScore: 0, known, onCommit: (item) => committed.push(item.index) });
    expect(dummy.calls).toBe(2);
    expect(r.errors).toBe(1);
    expect(r.results.map((x) => [x.score, x.error ?? null])).toEqual([
      [1, null],
      [0, 'Error: earlier failure'],
      [1, null],
      [1, null],
    ]);
    expect(r.results[0]!.prediction).toBeNull();
    expect(r.score).toBe(75);
    expect(committed).toEqual([0, 1, 2, 3]);
  });

  it('a known failure counts toward maxErrors', async () => {
    settings.configure({ lm: oracle(4).lm });
    const known = (i: number) => (i < 2 ? { score: 0, error: 'Error: earlier' } : undefined);
    await expect(evaluateProgram(host(), new QA(), qa(4), exact, { concurrency: 1, maxErrors: 2, failureScore: 0, known })).rejects.toBeInstanceOf(EvaluationError);
  });

  it('labels its progress events when given a label, and only then', async () => {
    settings.configure({ lm: oracle(2).lm });
    const labelled: ProgressEvent[] = [];
    await evaluateProgram(host(labelled), new QA(), qa(2), exact, { concurrency: 1, maxErrors: 10, failureScore: 0, label: 'baseline' });
    expect(labelled.map((e) => e.message)).toEqual(['baseline', 'baseline']);
    const plain: ProgressEvent[] = [];
    await evaluateProgram(host(plain), new QA(), qa(2), exact, { concurrency: 1, maxErrors: 10, failureScore: 0 });
    expect(plain.every((e) => !('message' in e))).toBe(true);
  });
});

describe('Evaluate progress under a meter', () => {
  it("carries the calls made so far by the meter it runs under, and 0 outside one", async () => {
    settings.configure({ lm: oracle(3).lm });
    const events: ProgressEvent[] = [];
    await runWithMeter(new Meter({}), () => new Evaluate({ devset: qa(3), metric: exact, onProgress: (e) => events.push(e) }).run(new QA()));
    expect(events.map((e) => e.calls)).toEqual([1, 2, 3]);
    const outside: ProgressEvent[] = [];
    await new Evaluate({ devset: qa(2), metric: exact, onProgress: (e) => outside.push(e) }).run(new QA());
    expect(outside.map((e) => [e.calls, e.costUsd])).toEqual([
      [0, 0],
      [0, 0],
    ]);
  });
});
