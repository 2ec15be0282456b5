import { describe, expect, it } from 'vitest';
import { Example, Module, Parallel, ParallelExecutionError, Predict, Prediction } from '../../src/dspy/index.js';
import { DummyLM } from '../../src/dspy/dummy_lm.js';

class Slow extends Module {
  inFlight = 0;
  peak = 0;
  async forward(inputs: Record<string, unknown>): Promise<Prediction> {
    this.inFlight++;
    this.peak = Math.max(this.peak, this.inFlight);
    await new Promise((r) => setTimeout(r, 5));
    this.inFlight--;
    if (inputs['fail']) throw new Error(`failed ${String(inputs['q'])}`);
    return new Prediction({ echo: inputs });
  }
}

describe('Parallel', () => {
  it('runs (module, example) pairs with a concurrency limit, keeping order; Examples pass their inputs', async () => {
    const slow = new Slow();
    const pairs = Array.from({ length: 7 }, (_, i) => [slow, new Example({ q: i, label: 'x' }).withInputs('q')] as const);
    const results = (await new Parallel({ concurrency: 3 }).forward(pairs)) as Prediction[];
    expect(results.map((r) => r.get('echo'))).toEqual(Array.from({ length: 7 }, (_, i) => ({ q: i })));
    expect(slow.peak).toBe(3);
    const all = (await new Parallel({ accessExamples: false }).forward([[slow, new Example({ q: 1, label: 'x' }).withInputs('q')]])) as Prediction[];
    expect(all[0]!.get('echo')).toEqual({ q: 1, label: 'x' });
  });

  it('leaves a failed pair undefined, returns failed examples on request, and stops at maxErrors', async () => {
    const slow = new Slow();
    const inputs = [{ q: 0 }, { q: 1, fail: true }, { q: 2 }];
    const out = await new Parallel({ returnFailedExamples: true }).forward(inputs.map((x) => [slow, x] as const));
    expect(Array.isArray(out)).toBe(false);
    const { results, failedExamples, errors } = out as Exclude<typeof out, unknown[]>;
    expect(results[1]).toBeUndefined();
    expect(results[2]!.get('echo')).toEqual({ q: 2 });
    expect(failedExamples).toEqual([{ q: 1, fail: true }]);
    expect((errors[0] as Error).message).toBe('failed 1');
    const many = Array.from({ length: 10 }, (_, i) => [slow, { q: i, fail: true }] as const);
    const err = await new Parallel({ maxErrors: 2, concurrency: 1 }).forward(many).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ParallelExecutionError);
    expect((err as ParallelExecutionError).errors).toHaveLength(2);
  });

  it('runs real predictors', async () => {
    const lm = new DummyLM({ answers: { 'q1': { a: 'one' }, 'q2': { a: 'two' } } });
    const p = new Predict('q -> a', { lm });
    const out = (await new Parallel().forward([
      [p, { q: 'q1' }],
      [p, { q: 'q2' }],
    ])) as Prediction[];
    expect(out.map((o) => o.get('a'))).toEqual(['one', 'two']);
  });
});
