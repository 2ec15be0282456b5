import { describe, expect, it } from 'vitest';
import {
  ChainOfThought,
  Example,
  Module,
  Predict,
  Prediction,
  recordTrace,
  settings,
  withTrace,
} from '../../src/dspy/index.js';
import type { ChatMessage, GenerateOptions, LM, LMResponse } from '../../src/lm/types.js';
import { DummyLM } from '../../src/dspy/dummy_lm.js';

/** Answers `[[ ## out ## ]]` with the value of the `x` input, after `delay(x)` ms. */
class EchoLM implements LM {
  readonly provider = 'test';
  readonly model = 'echo';
  inFlight = 0;
  maxInFlight = 0;
  options: Array<GenerateOptions | undefined> = [];
  constructor(private readonly delay: (x: string) => number = () => 0) {}
  async generate(messages: ChatMessage[], options?: GenerateOptions): Promise<LMResponse> {
    this.options.push(options);
    const x = /\[\[ ## x ## \]\]\n(.*)/.exec(messages[messages.length - 1]!.content)![1]!;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setTimeout(r, this.delay(x)));
    this.inFlight--;
    return { text: `[[ ## out ## ]]\n${x}\n\n[[ ## completed ## ]]`, usage: { inputTokens: 1, outputTokens: 1 }, model: 'echo', cached: false, costUsd: 0 };
  }
}

class Pipeline extends Module {
  analyze = new ChainOfThought('x -> out');
  steps = [new Predict('x -> out'), new Predict('x -> out')];
  inner = new Inner();
  byName = { summarize: new Predict('x -> out') };
  notes = 'not a predictor';
  async forward(inputs: Record<string, unknown>): Promise<Prediction> {
    const a = await this.analyze.call(inputs);
    const b = await this.steps[0]!.call({ x: a.get('out') });
    return b;
  }
}

class Inner extends Module {
  p = new Predict('x -> out');
  async forward(inputs: Record<string, unknown>) {
    return this.p.call(inputs);
  }
}

describe('Module.namedPredictors', () => {
  it('gives stable paths for properties, nested modules, arrays and records', () => {
    const prog = new Pipeline();
    expect(prog.namedPredictors().map(([n]) => n)).toEqual(['analyze.predict', 'steps[0]', 'steps[1]', 'inner.p', "byName['summarize']"]);
    expect(prog.predictors()[0]).toBe(prog.analyze.predict);
    expect(prog.predictor('inner.p')).toBe(prog.inner.p);
    expect(new Predict('a -> b').namedPredictors().map(([n]) => n)).toEqual(['self']);
  });

  it('lists a shared predictor once and freezes compiled sub-modules like DSPy', () => {
    const prog = new Pipeline();
    prog.steps[1] = prog.steps[0]!;
    prog.inner.compiled = true;
    expect(prog.namedPredictors().map(([n]) => n)).toEqual(['analyze.predict', 'steps[0]', "byName['summarize']"]);
    expect(prog.namedPredictors({ includeCompiled: true }).map(([n]) => n)).toContain('inner.p');
  });
});

describe('deepCopy / resetCopy', () => {
  it('copies are independent but share LMs and immutable values', () => {
    const lm = new DummyLM();
    const prog = new Pipeline();
    prog.analyze.predict.lm = lm;
    prog.analyze.predict.demos = [new Example({ x: '1', out: '2' })];
    prog.steps[0]!.config.temperature = 0.5;
    const copy = prog.deepCopy();
    expect(copy).toBeInstanceOf(Pipeline);
    expect(copy.namedPredictors().map(([n]) => n)).toEqual(prog.namedPredictors().map(([n]) => n));
    expect(copy.analyze.predict).not.toBe(prog.analyze.predict);
    expect(copy.analyze.predict.lm).toBe(lm);
    expect(copy.analyze.predict.signature).toBe(prog.analyze.predict.signature);
    copy.analyze.predict.demos.push(new Example({ x: '3', out: '4' }));
    copy.steps[0]!.config.temperature = 1;
    copy.byName.summarize.demos = [new Example({ x: 'a', out: 'b' })];
    expect(prog.analyze.predict.demos).toHaveLength(1);
    expect(prog.steps[0]!.config.temperature).toBe(0.5);
    expect(prog.byName.summarize.demos).toHaveLength(0);

    prog.compiled = true;
    const reset = prog.resetCopy();
    expect(reset.predictors().every((p) => p.demos.length === 0)).toBe(true);
    expect(reset.compiled).toBe(false);
    expect(prog.analyze.predict.demos).toHaveLength(1);
  });

  it('resetCopy leaves the demos of a compiled (frozen) sub-module alone, as DSPy does', () => {
    const prog = new Pipeline();
    prog.inner.p.demos = [new Example({ x: 'frozen', out: 'kept' })];
    prog.inner.compiled = true;
    prog.analyze.predict.demos = [new Example({ x: '1', out: '2' })];
    const reset = prog.resetCopy();
    expect(reset.analyze.predict.demos).toHaveLength(0);
    expect(reset.inner.p.demos.map((d) => d.get('x'))).toEqual(['frozen']);
    expect(reset.inner.compiled).toBe(true);
  });

  it('keeps shared sub-objects shared inside the copy', () => {
    const prog = new Pipeline();
    prog.steps[1] = prog.steps[0]!;
    const copy = prog.deepCopy();
    expect(copy.steps[1]).toBe(copy.steps[0]);
    expect(copy.steps[0]).not.toBe(prog.steps[0]);
  });
});

describe('traces', () => {
  it('records every predictor call with inputs and outputs', async () => {
    const prog = new Pipeline();
    prog.setLM(new DummyLM());
    const { result, trace } = await withTrace(() => prog.call({ x: 'hello' }));
    expect(trace.map((t) => t.predictor)).toEqual([prog.analyze.predict, prog.steps[0]]);
    expect(trace[0]!.inputs).toEqual({ x: 'hello' });
    expect(Object.keys(trace[0]!.outputs)).toEqual(['reasoning', 'out']);
    expect(trace[1]!.outputs).toEqual(result.toDict());
  });

  it('never mixes traces of concurrent calls (50 at once)', async () => {
    const lm = new EchoLM((x) => (Number(x) * 7) % 5);
    const p = new Predict('x -> out', { lm });
    const runs = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        withTrace(async () => {
          await p.call({ x: String(i) });
          await new Promise((r) => setTimeout(r, i % 3));
          return p.call({ x: `${i}` });
        }),
      ),
    );
    runs.forEach(({ result, trace }, i) => {
      expect(result.get('out')).toBe(String(i));
      expect(trace).toHaveLength(2);
      expect(trace.every((t) => t.inputs['x'] === String(i) && t.outputs['out'] === String(i))).toBe(true);
    });
    expect(lm.maxInFlight).toBeGreaterThan(1);
  });

  it('recordTrace adds entries for modules that do not call an LM; no-op outside withTrace', async () => {
    const p = new Predict('x -> out');
    recordTrace({ predictor: p, inputs: { x: 1 }, outputs: { out: 2 } });
    const { trace } = await withTrace(async () => {
      recordTrace({ predictor: p, inputs: { x: 1 }, outputs: { out: 2 } });
    });
    expect(trace).toEqual([{ predictor: p, inputs: { x: 1 }, outputs: { out: 2 } }]);
  });
});

describe('batch', () => {
  it('keeps input order and never exceeds the concurrency limit', async () => {
    const lm = new EchoLM((x) => (Number(x) % 4) * 3);
    const p = new Predict('x -> out', { lm });
    const inputs = Array.from({ length: 24 }, (_, i) => ({ x: String(i) }));
    const out = await p.batch(inputs, { concurrency: 5 });
    expect(out.map((r) => r.get('out'))).toEqual(inputs.map((i) => i.x));
    expect(lm.maxInFlight).toBe(5);
  });

  it('rejects with the first error and starts no new calls after it', async () => {
    let calls = 0;
    const lm: LM = {
      provider: 'test',
      model: 't',
      async generate() {
        calls++;
        if (calls === 3) throw new Error('boom');
        await new Promise((r) => setTimeout(r, 1));
        return { text: '[[ ## out ## ]]\nok', usage: { inputTokens: 0, outputTokens: 0 }, model: 't', cached: false, costUsd: 0 };
      },
    };
    const p = new Predict('x -> out', { lm });
    await expect(p.batch(Array.from({ length: 20 }, (_, i) => ({ x: i })), { concurrency: 2 })).rejects.toThrow('boom');
    await new Promise((r) => setTimeout(r, 10));
    expect(calls).toBeLessThanOrEqual(4);
  });
});

describe('batch cancellation', () => {
  it('a signal stops new calls and reaches the LM calls in flight', async () => {
    // An LM whose calls never answer: they end only when their signal aborts. If the signal did
    // not reach the calls in flight, the batch would hang (and the test time out).
    const signals: Array<AbortSignal | undefined> = [];
    const lm: LM = {
      provider: 'test',
      model: 'hang',
      generate(_messages: ChatMessage[], o?: GenerateOptions): Promise<LMResponse> {
        signals.push(o?.signal);
        return new Promise((_, reject) => o?.signal?.addEventListener('abort', () => reject(o.signal?.reason), { once: true }));
      },
    };
    const p = new Predict('x -> out', { lm });
    const ac = new AbortController();
    const batch = p.batch(Array.from({ length: 10 }, (_, i) => ({ x: i })), { concurrency: 2, signal: ac.signal });
    while (signals.length < 2) await new Promise((r) => setTimeout(r, 1));
    ac.abort(new Error('cancelled'));
    await expect(batch).rejects.toThrow('cancelled');
    expect(signals).toHaveLength(2); // no new call after the abort
    expect(signals.every((s) => s?.aborted)).toBe(true);
  });
});

describe('nested traces', () => {
  it('an inner withTrace collects only its own calls', async () => {
    const p = new Predict('x -> out', { lm: new EchoLM() });
    const outer = await withTrace(async () => {
      await p.call({ x: 'outer' });
      const inner = await withTrace(() => p.call({ x: 'inner' }));
      return inner.trace;
    });
    expect(outer.result.map((t) => t.inputs['x'])).toEqual(['inner']);
    expect(outer.trace.map((t) => t.inputs['x'])).toEqual(['outer']);
  });
});

describe('settings', () => {
  it('context scopes lm, temperature and rolloutId into the call options without leaking', async () => {
    const global = new EchoLM();
    const scoped = new EchoLM();
    settings.configure({ lm: global });
    try {
      const p = new Predict('x -> out', { config: { temperature: 0, maxTokens: 100 } });
      await Promise.all([
        settings.context({ lm: scoped, rolloutId: 2, temperature: 1 }, () => p.call({ x: 'a' })),
        p.call({ x: 'b' }),
      ]);
      expect(scoped.options).toEqual([{ temperature: 1, maxTokens: 100, rolloutId: 2 }]);
      expect(global.options).toEqual([{ temperature: 0, maxTokens: 100 }]);
      await settings.context({ rolloutId: 'r' }, () => settings.context({ temperature: 0.7 }, () => p.call({ x: 'c' })));
      expect(global.options[1]).toEqual({ temperature: 0.7, maxTokens: 100, rolloutId: 'r' });
    } finally {
      settings.reset();
    }
    await expect(new Predict('x -> out').call({ x: 'a' })).rejects.toThrow(/No LM configured/);
  });
});
