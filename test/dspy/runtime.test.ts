// What a DSPy user relies on when running programs: which LM, adapter and options a predictor
// uses (settings and contexts), n-sample calls, module trees and copies, callbacks, the LM
// history (inspectHistory), traces, rollout ids and metric values.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BaseCallback,
  ChainOfThought,
  ChatAdapter,
  clearHistory,
  currentTrace,
  DEFAULT_MAX_HISTORY_SIZE,
  Example,
  formatHistory,
  inspectHistory,
  isMetricFeedback,
  JSONAdapter,
  lmHistory,
  Module,
  NoLMConfiguredError,
  observed,
  observeLM,
  parentCallId,
  Predict,
  Prediction,
  rolloutIdAt,
  settings,
  Signature,
  withTrace,
  type Callback,
  type HistoryEntry,
} from '../../src/dspy/index.js';
import { recordHistory } from '../../src/dspy/history.js';
import { DummyLM } from '../../src/dspy/dummy_lm.js';
import type { ChatMessage, GenerateOptions, LM, LMResponse } from '../../src/lm/types.js';

beforeEach(() => clearHistory());
afterEach(() => {
  settings.reset();
  clearHistory();
});

/** An LM that answers every call with `[[ ## a ## ]]` + a counter, recording the options it got. */
class CountingLM implements LM {
  readonly provider = 'counting';
  readonly model = 'count-1';
  options: GenerateOptions[] = [];
  messages: ChatMessage[][] = [];
  async generate(messages: ChatMessage[], options: GenerateOptions = {}): Promise<LMResponse> {
    this.options.push(options);
    this.messages.push(messages);
    const text = messages[0]!.content.includes('JSON object') ? `{"a": "${this.options.length}"}` : `[[ ## a ## ]]\n${this.options.length}`;
    return { text, usage: { inputTokens: 1, outputTokens: 1 }, model: 'count-1-served', cached: false, costUsd: 0 };
  }
}

describe('settings', () => {
  it('configure merges; a key given as undefined is cleared; reset forgets all', () => {
    const lm = new CountingLM();
    const adapter = new JSONAdapter();
    settings.configure({ lm });
    settings.configure({ adapter });
    expect(settings.lm).toBe(lm);
    expect(settings.adapter).toBe(adapter);
    settings.configure({ lm: undefined });
    expect(settings.lm).toBeUndefined();
    expect(settings.adapter).toBe(adapter);
    settings.reset();
    expect(settings.adapter).toBeUndefined();
  });

  it('a context overrides the global values inside it only; nested contexts merge; undefined keeps the outer value', () => {
    const g = new CountingLM();
    const c = new CountingLM();
    const cb: Callback = {};
    settings.configure({ lm: g, callbacks: [] });
    expect(settings.current()).toEqual({});
    settings.context({ lm: c, temperature: 0.3, rolloutId: 'r' }, () => {
      expect(settings.lm).toBe(c);
      expect(settings.temperature).toBe(0.3);
      expect(settings.rolloutId).toBe('r');
      settings.context({ temperature: 0.9, lm: undefined, callbacks: [cb] }, () => {
        expect(settings.lm).toBe(c);
        expect(settings.temperature).toBe(0.9);
        expect(settings.rolloutId).toBe('r');
        expect(settings.callbacks).toEqual([cb]);
      });
      expect(settings.temperature).toBe(0.3);
      expect(settings.callbacks).toEqual([]);
    });
    expect(settings.lm).toBe(g);
    expect(settings.temperature).toBeUndefined();
    expect(settings.rolloutId).toBeUndefined();
    expect(settings.adapter).toBeUndefined();
    const a = new ChatAdapter();
    settings.context({ adapter: a }, () => expect(settings.adapter).toBe(a));
  });

  it('callbacks: the context list replaces the global one; none configured is an empty list', () => {
    expect(settings.callbacks).toEqual([]);
    const g: Callback = {};
    settings.configure({ callbacks: [g] });
    expect(settings.callbacks).toEqual([g]);
    settings.context({ callbacks: [] }, () => expect(settings.callbacks).toEqual([]));
  });

  it('history size: default 20, configurable, floored, 0 when disabled (a context may re-enable it)', () => {
    expect(settings.historySize).toBe(DEFAULT_MAX_HISTORY_SIZE);
    expect(DEFAULT_MAX_HISTORY_SIZE).toBe(20);
    settings.configure({ maxHistorySize: 3.7 });
    expect(settings.historySize).toBe(3);
    settings.configure({ maxHistorySize: -1 });
    expect(settings.historySize).toBe(0);
    settings.configure({ maxHistorySize: 5 });
    settings.context({ maxHistorySize: 2 }, () => expect(settings.historySize).toBe(2));
    settings.configure({ disableHistory: true });
    expect(settings.historySize).toBe(0);
    settings.context({ disableHistory: false }, () => expect(settings.historySize).toBe(5));
    settings.configure({ disableHistory: false });
    settings.context({ disableHistory: true }, () => expect(settings.observation()).toEqual({ callbacks: [], historySize: 0 }));
  });
});

describe('Predict: which LM, adapter and options a call uses', () => {
  it('its own LM first, else the one in settings, else a clear error', async () => {
    const own = new CountingLM();
    const global = new CountingLM();
    await expect(new Predict('q -> a').call({ q: '?' })).rejects.toThrow(NoLMConfiguredError);
    await expect(new Predict('q -> a').call({ q: '?' })).rejects.toThrow(/No LM configured/);
    settings.configure({ lm: global });
    await new Predict('q -> a').call({ q: '1' });
    await new Predict('q -> a', { lm: own }).call({ q: '2' });
    expect(global.options).toHaveLength(1);
    expect(own.options).toHaveLength(1);
    expect(new NoLMConfiguredError('x').name).toBe('NoLMConfiguredError');
  });

  it('its own adapter first, else the one in settings, else the chat adapter', async () => {
    const lm = new CountingLM();
    await new Predict('q -> a', { lm }).call({ q: '1' });
    expect(lm.messages[0]![0]!.content).toContain('[[ ## completed ## ]]');
    settings.configure({ adapter: new JSONAdapter() });
    await new Predict('q -> a', { lm }).call({ q: '2' });
    expect(lm.messages[1]![0]!.content).toContain('Outputs will be a JSON object');
    await new Predict('q -> a', { lm, adapter: new ChatAdapter() }).call({ q: '3' });
    expect(lm.messages[2]![0]!.content).not.toContain('JSON object');
  });

  it('options: its config, with the context temperature, rollout id, cache bypass and signal on top', async () => {
    const lm = new CountingLM();
    const p = new Predict('q -> a', { lm, config: { temperature: 0.2, maxTokens: 50 } });
    expect(p.callOptions()).toEqual({ temperature: 0.2, maxTokens: 50 });
    const signal = new AbortController().signal;
    await settings.context({ temperature: 1, rolloutId: 7, bypassCache: true, signal }, () => p.call({ q: '1' }));
    expect(lm.options[0]).toEqual({ temperature: 1, maxTokens: 50, rolloutId: 7, bypassCache: true, signal });
    for (const ctx of [{ temperature: 0 }, { rolloutId: 'x' }, { bypassCache: false }, { signal }]) {
      const opts = settings.context(ctx, () => p.callOptions());
      expect(opts).toStrictEqual({ temperature: 0.2, maxTokens: 50, ...ctx });
    }
    expect(p.config).toEqual({ temperature: 0.2, maxTokens: 50 });
  });

  it('demos and config are copied from the options; reset clears demos only', () => {
    const demos = [new Example({ q: '1', a: '2' })];
    const config = { temperature: 0.5 };
    const lm = new CountingLM();
    const p = new Predict(Signature.parse('q -> a'), { lm, demos, config });
    demos.push(new Example({ q: '3', a: '4' }));
    config.temperature = 1;
    expect(p.demos).toHaveLength(1);
    expect(p.config).toEqual({ temperature: 0.5 });
    p.reset();
    expect(p.demos).toEqual([]);
    expect(p.lm).toBe(lm);
    expect(p.config).toEqual({ temperature: 0.5 });
    expect(new Predict('q -> a').n).toBe(1);
  });

  it('n must be a positive integer', () => {
    for (const n of [0, -1, 1.5, Number.NaN]) expect(() => new Predict('q -> a', { n }), String(n)).toThrow(RangeError);
    expect(new Predict('q -> a', { n: 3 }).n).toBe(3);
  });

  it('the trace entry holds a copy of the inputs and the parsed outputs', async () => {
    const p = new Predict('q -> a', { lm: new CountingLM() });
    const inputs = { q: 'x' };
    const { trace } = await withTrace(() => p.call(inputs));
    inputs.q = 'changed';
    expect(trace).toEqual([{ predictor: p, inputs: { q: 'x' }, outputs: { a: '1' } }]);
  });

  it('n samples: low temperatures raised to 0.7, higher kept; ids from the context or config id; trace of the first sample', async () => {
    const run = async (config: GenerateOptions, ctx: { rolloutId?: string | number } = {}) => {
      const lm = new CountingLM();
      const p = new Predict('q -> a', { lm, n: 3, config });
      const { result, trace } = await settings.context(ctx, () => withTrace(() => p.call({ q: 'x' })));
      return { lm, result, trace };
    };
    const low = await run({ temperature: 0.15 });
    expect(low.lm.options.map((o) => [o.temperature, o.rolloutId])).toEqual([
      [0.7, undefined],
      [0.7, 1],
      [0.7, 2],
    ]);
    expect(low.result.completions!.get('a')).toEqual(['1', '2', '3']);
    expect(low.trace).toHaveLength(1);
    expect(low.trace[0]).toEqual({ predictor: expect.any(Predict), inputs: { q: 'x' }, outputs: { a: '1' } });
    const warm = await run({ temperature: 0.16, rolloutId: 'seed' });
    expect(warm.lm.options.map((o) => [o.temperature, o.rolloutId])).toEqual([
      [0.16, 'seed'],
      [0.16, 'seed:1'],
      [0.16, 'seed:2'],
    ]);
    const ctx = await run({}, { rolloutId: 4 });
    expect(ctx.lm.options.map((o) => o.rolloutId)).toEqual([4, 5, 6]);
  });
});

describe('rollout ids and metric values', () => {
  it('rolloutIdAt: base + i, base:i for a string base, i with no base', () => {
    expect(rolloutIdAt(undefined, 2)).toBe(2);
    expect(rolloutIdAt(0, 2)).toBe(2);
    expect(rolloutIdAt(5, 2)).toBe(7);
    expect(rolloutIdAt('run', 2)).toBe('run:2');
  });

  it('isMetricFeedback: an object with a numeric score', () => {
    expect(isMetricFeedback({ score: 0.5, feedback: 'ok' })).toBe(true);
    expect(isMetricFeedback({ score: 0 })).toBe(true);
    expect(isMetricFeedback({ score: '1' })).toBe(false);
    expect(isMetricFeedback({ feedback: 'x' })).toBe(false);
    expect(isMetricFeedback(null)).toBe(false);
    expect(isMetricFeedback(1)).toBe(false);
    expect(isMetricFeedback(true)).toBe(false);
    expect(isMetricFeedback(Object.assign([1], { score: 1 }))).toBe(false);
    expect(isMetricFeedback(Object.assign(() => 1, { score: 1 }))).toBe(false);
  });
});

describe('ChainOfThought', () => {
  it('passes its options to the inner Predict and accepts a Signature or a replacement reasoning field', async () => {
    const lm = new DummyLM([{ reasoning: 'r', answer: 'x' }]);
    const demo = new Example({ question: 'q', reasoning: 'r', answer: 'a' });
    const cot = new ChainOfThought(Signature.parse('question -> answer', 'Answer.'), { lm, demos: [demo], n: 1, config: { temperature: 0.1 } });
    expect(cot.signature.instructions).toBe('Answer.');
    expect(cot.demos).toEqual([demo]);
    expect(cot.predict.lm).toBe(lm);
    expect(cot.predict.config).toEqual({ temperature: 0.1 });
    expect(cot.signature.field('reasoning')).toEqual({ name: 'reasoning', type: 'str', prefix: 'Reasoning:' });
    expect(cot.signature.toJSON().fields[1]).toEqual({ name: 'reasoning', role: 'output', type: 'str', prefix: 'Reasoning:', description: '${reasoning}' });
    expect((await cot.call({ question: 'q2' })).toDict()).toEqual({ reasoning: 'r', answer: 'x' });
    const custom = new ChainOfThought('question -> answer', { rationaleField: { name: 'rationale', prefix: 'Why:', description: 'why' } });
    expect(custom.signature.outputNames).toEqual(['rationale', 'answer']);
    expect(custom.signature.field('rationale')).toEqual({ name: 'rationale', type: 'str', prefix: 'Why:', description: 'why' });
    expect(custom.signature.inputNames).toEqual(['question']);
  });
});

describe('Module', () => {
  class Twice extends Module {
    first = new Predict('q -> a');
    second = new Predict('q -> a');
    async forward(inputs: Record<string, unknown>): Promise<Prediction> {
      await this.first.call(inputs);
      return this.second.call(inputs);
    }
  }

  it('call with an Example passes its inputs (all fields when no input keys are set)', async () => {
    const seen: Array<Record<string, unknown>> = [];
    class Spy extends Module {
      async forward(inputs: Record<string, unknown>) {
        seen.push(inputs);
        return Prediction.from({});
      }
    }
    const spy = new Spy();
    await spy.call(new Example({ q: 1, a: 2 }).withInputs('q'));
    await spy.call(new Example({ q: 1, a: 2 }));
    await spy.call({ raw: true });
    expect(seen).toEqual([{ q: 1 }, { q: 1, a: 2 }, { raw: true }]);
  });

  it("own callbacks: copied when set, none by default, seen after the settings' ones", async () => {
    const order: string[] = [];
    const own: Callback[] = [{ onModuleStart: () => order.push('own') }];
    const m = new Predict('q -> a', { lm: new CountingLM(), callbacks: own });
    expect(new Predict('q -> a').callbacks).toEqual([]);
    expect(m.callbacks).toEqual(own);
    expect(m.callbacks).not.toBe(own);
    settings.configure({ callbacks: [{ onModuleStart: () => order.push('global') }] });
    await m.call({ q: 'x' });
    expect(order).toEqual(['global', 'own']);
    settings.reset();
    order.length = 0;
    await m.call({ q: 'y' });
    expect(order).toEqual(['own']);
  });

  it('namedPredictors walks Maps, null-prototype records and cycles; compiled parts only when asked', () => {
    class Tree extends Module {
      byKey = new Map<string, unknown>([['m', new Predict('q -> a')]]);
      bare: Record<string, unknown> = Object.create(null);
      self: unknown = this;
      loop: unknown[] = [];
      frozen = new Twice();
      skip = new Set([new Predict('q -> a')]);
      async forward() {
        return Prediction.from({});
      }
    }
    const t = new Tree();
    t.bare['x'] = new Predict('q -> a');
    t.loop.push(t.loop, { p: t.bare['x'] });
    t.frozen.compiled = true;
    expect(t.namedPredictors().map(([p]) => p)).toEqual(["byKey['m']", "bare['x']"]);
    expect(t.namedPredictors({ includeCompiled: true }).map(([p]) => p)).toEqual(["byKey['m']", "bare['x']", 'frozen.first', 'frozen.second']);
    expect(t.predictors()).toHaveLength(2);
    expect(t.predictor('frozen.second')).toBe(t.frozen.second);
    expect(t.predictor('nope')).toBeUndefined();
    const p = new Predict('q -> a');
    expect(p.namedPredictors()).toEqual([['self', p]]);
    expect(p.isPredictor()).toBe(true);
    expect(t.isPredictor()).toBe(false);
  });

  it('properties that are null, primitives or class instances hold no predictors (as DSPy walks only modules, lists and dicts)', () => {
    class Holder {
      hidden = new Predict('q -> a');
    }
    class WithNulls extends Module {
      nothing: unknown = null;
      count = 3;
      holder = new Holder();
      list = [null, 'x', new Predict('q -> a')];
      async forward() {
        return Prediction.from({});
      }
    }
    const m = new WithNulls();
    expect(m.namedPredictors().map(([p]) => p)).toEqual(['list[2]']);
    const c = m.deepCopy();
    expect(c.nothing).toBeNull();
    expect(c.list[0]).toBeNull();
    expect(c.holder).toBe(m.holder);
  });

  it('deepCopy keeps accessor properties defined on an instance', () => {
    class Lazy extends Module {
      base = 2;
      constructor() {
        super();
        Object.defineProperty(this, 'double', { get: () => this.base * 2, enumerable: true, configurable: true });
      }
      async forward() {
        return Prediction.from({});
      }
    }
    const c = new Lazy().deepCopy();
    expect((c as unknown as { double: number }).double).toBe(4);
  });

  it('deepCopy copies Maps, Sets and null-prototype records; keeps sharing within the copy', () => {
    class Holder extends Module {
      p = new Predict('q -> a');
      map = new Map([['k', { v: 1 }]]);
      set = new Set([{ v: 2 }]);
      bare: Record<string, unknown> = Object.create(null);
      alias: unknown;
      date = new Date(0);
      async forward() {
        return Prediction.from({});
      }
    }
    const h = new Holder();
    h.bare['x'] = [1];
    h.alias = h.map;
    const c = h.deepCopy();
    expect(c).toBeInstanceOf(Holder);
    expect(c.map).not.toBe(h.map);
    expect(c.map.get('k')).toEqual({ v: 1 });
    expect(c.map.get('k')).not.toBe(h.map.get('k'));
    expect([...c.set]).toEqual([{ v: 2 }]);
    expect([...c.set][0]).not.toBe([...h.set][0]);
    expect(Object.getPrototypeOf(c.bare)).toBeNull();
    expect(Object.getPrototypeOf(c.map.get('k'))).toBe(Object.prototype);
    expect(c.bare['x']).toEqual([1]);
    expect(c.bare['x']).not.toBe(h.bare['x']);
    expect(c.alias).toBe(c.map);
    expect(c.date).toBe(h.date);
    expect(c.p).not.toBe(h.p);
    expect(c.p.signature).toBe(h.p.signature);
  });

  it('resetCopy clears demos and the compiled flag; setLM reaches compiled parts too', () => {
    const t = new Twice();
    t.first.demos = [new Example({ q: '1', a: '1' })];
    t.compiled = true;
    const r = t.resetCopy();
    expect(r.compiled).toBe(false);
    expect(r.first.demos).toEqual([]);
    expect(t.first.demos).toHaveLength(1);
    class Outer extends Module {
      inner = new Twice();
      async forward() {
        return Prediction.from({});
      }
    }
    const o = new Outer();
    o.inner.compiled = true;
    const lm = new CountingLM();
    o.setLM(lm);
    expect(o.inner.first.lm).toBe(lm);
    expect(o.inner.second.lm).toBe(lm);
  });

  it('batch without a signal runs every input in order', async () => {
    const lm = new CountingLM();
    const out = await new Predict('q -> a', { lm }).batch([{ q: '1' }, new Example({ q: '2' })], { concurrency: 1 });
    expect(out.map((p) => p.get('a'))).toEqual(['1', '2']);
    expect(lm.options.every((o) => o.signal === undefined)).toBe(true);
  });
});

describe('callbacks: observed()', () => {
  it('a fresh 32-hex call id per call, handlers called on their callback object, parent id inside', async () => {
    const ids: string[] = [];
    class Rec extends BaseCallback {
      seen: string[] = [];
      override onToolStart(id: string, _i: unknown, inputs: Record<string, unknown>) {
        this.seen.push(`start ${JSON.stringify(inputs)}`);
        ids.push(id);
      }
      override onToolEnd(id: string, out: unknown, err: unknown) {
        this.seen.push(`end ${String(out)} ${String(err)}`);
        ids.push(id);
      }
    }
    const rec = new Rec();
    expect(parentCallId()).toBeUndefined();
    const r = await observed([rec], 'Tool', null, { x: 1 }, () => parentCallId());
    expect(r).toMatch(/^[0-9a-f]{32}$/);
    expect(ids).toEqual([r, r]);
    expect(rec.seen).toEqual(['start {"x":1}', `end ${r} undefined`]);
    const r2 = await observed([rec], 'Tool', null, {}, () => parentCallId());
    expect(r2).not.toBe(r);
  });

  it('an error reaches the end handler (outputs undefined) and is rethrown; broken handlers are ignored', async () => {
    const ends: unknown[][] = [];
    const broken: Callback = {
      onModuleStart: () => {
        throw new Error('bad start');
      },
      onModuleEnd: () => {
        throw new Error('bad end');
      },
    };
    const rec: Callback = { onModuleEnd: (_id, out, err) => ends.push([out, err]) };
    const boom = new Error('boom');
    await expect(
      observed([broken, rec, {}], 'Module', null, {}, () => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(ends).toEqual([[undefined, boom]]);
    await expect(observed([broken, rec], 'Module', null, {}, async () => 5)).resolves.toBe(5);
    expect(ends[1]).toEqual([5, undefined]);
    const base = new BaseCallback();
    for (const k of Object.getOwnPropertyNames(BaseCallback.prototype).filter((n) => n.startsWith('on'))) {
      expect((base as unknown as Record<string, (...a: unknown[]) => unknown>)[k]!('id', null, null)).toBeUndefined();
    }
  });
});

describe('LM history (inspectHistory)', () => {
  const entry = (i: number, outputs = [`out ${i}`]): HistoryEntry => ({
    provider: 'p',
    model: 'm',
    messages: [
      { role: 'system', content: ` sys ${i} ` },
      { role: 'user', content: `user ${i}` },
    ],
    options: {},
    outputs,
    response: { text: outputs[0] ?? '', usage: { inputTokens: 0, outputTokens: 0 }, model: 'm', cached: false, costUsd: 0 },
    timestamp: Date.UTC(2024, 0, 1) + i,
    durationMs: 0,
  });

  it("formatHistory prints DSPy's pretty_print_history layout, with extra completions counted", () => {
    expect(formatHistory([entry(0, ['  a  ', 'b', 'c'])])).toBe(
      '\n\n\n\n[2024-01-01T00:00:00.000Z]\n\nSystem message:\n\nsys 0\n\n\nUser message:\n\nuser 0\n\n\nResponse:\n\na\n\n \t (and 2 other completions)\n\n\n\n\n',
    );
    expect(formatHistory([entry(1, [])])).toContain('Response:\n\n\n\n');
    expect(formatHistory([])).toBe('\n\n\n\n');
    expect(formatHistory([entry(0)], { colors: true })).toContain('\x1b[34m[2024-01-01T00:00:00.000Z]\x1b[0m\n\n\x1b[31mSystem message:\x1b[0m');
    expect(formatHistory([entry(0)], { colors: true })).toContain('\x1b[32mout 0\x1b[0m');
    expect(formatHistory([entry(0, ['a', 'b'])], { colors: true })).toContain('\x1b[31m \t (and 1 other completions)\x1b[0m');
    expect(formatHistory([entry(0)], { colors: false })).not.toContain('\x1b');
  });

  it('keeps the last maxHistorySize calls in order, as the bound grows and shrinks; inspectHistory(n) shows the last n', async () => {
    const lm = observeLM(new CountingLM());
    const call = (i: number) => lm.generate([{ role: 'user', content: `m${i}` }]);
    const kept = () => lmHistory().map((h) => h.messages[0]!.content);
    settings.configure({ maxHistorySize: 3 });
    for (let i = 1; i <= 5; i++) await call(i);
    expect(kept()).toEqual(['m3', 'm4', 'm5']);
    await call(6);
    await call(7);
    expect(kept()).toEqual(['m5', 'm6', 'm7']);
    // The ring has wrapped (m7 overwrote the oldest); growing the bound now keeps the order.
    settings.configure({ maxHistorySize: 4 });
    await call(71);
    expect(kept()).toEqual(['m5', 'm6', 'm7', 'm71']);
    settings.configure({ maxHistorySize: 3 });
    await call(72);
    expect(kept()).toEqual(['m7', 'm71', 'm72']);
    await call(7);
    expect(kept()).toEqual(['m71', 'm72', 'm7']);
    settings.configure({ maxHistorySize: 2 });
    await call(8);
    expect(kept()).toEqual(['m7', 'm8']);
    settings.configure({ maxHistorySize: 4 });
    await call(9);
    expect(kept()).toEqual(['m7', 'm8', 'm9']);
    await call(10);
    await call(11);
    expect(kept()).toEqual(['m8', 'm9', 'm10', 'm11']);
    expect(inspectHistory(2)).toContain('m10');
    expect(inspectHistory(2)).not.toContain('m9');
    expect(inspectHistory(1.9)).not.toContain('m10');
    expect(inspectHistory(0)).toContain('m8');
    expect(inspectHistory(-1)).toContain('m8');
    expect(inspectHistory()).toBe(formatHistory(lmHistory().slice(-1)));
    settings.configure({ maxHistorySize: 0 });
    await call(12);
    expect(kept()).toEqual(['m8', 'm9', 'm10', 'm11']);
  });

  it('observeLM: one wrapper per LM, never wrapped twice; provider from the LM, model from the response', async () => {
    const inner = new CountingLM();
    const lm = observeLM(inner);
    expect(observeLM(inner)).toBe(lm);
    expect(observeLM(lm)).toBe(lm);
    expect(lm.provider).toBe('counting');
    expect(lm.model).toBe('count-1');
    const before = Date.now();
    await lm.generate([{ role: 'user', content: 'hi' }], { temperature: 0 });
    await lm.generate([{ role: 'user', content: 'again' }]);
    const [h] = lmHistory();
    expect(h).toMatchObject({ provider: 'counting', model: 'count-1-served', options: { temperature: 0 }, outputs: ['[[ ## a ## ]]\n1'] });
    expect(h!.response.text).toBe('[[ ## a ## ]]\n1');
    expect(h!.timestamp).toBeGreaterThanOrEqual(before);
    expect(h!.durationMs).toBeGreaterThanOrEqual(0);
    expect(h!.durationMs).toBeLessThanOrEqual(h!.timestamp - before);
    expect(inner.options[1]).toEqual({});
  });

  it('LM callbacks see the inner LM, the messages and options, and the response', async () => {
    const inner = new CountingLM();
    const events: unknown[] = [];
    settings.configure({
      callbacks: [{ onLMStart: (_id, instance, inputs) => events.push(instance, inputs), onLMEnd: (_id, out) => events.push(out?.text) }],
      disableHistory: true,
    });
    const messages: ChatMessage[] = [{ role: 'user', content: 'x' }];
    await observeLM(inner).generate(messages, { maxTokens: 3 });
    expect(events).toEqual([inner, { messages, options: { maxTokens: 3 } }, '[[ ## a ## ]]\n1']);
    expect(lmHistory()).toEqual([]);
  });
});

describe('with no callbacks configured nothing is observed', () => {
  it('no call id is open inside a module or an LM call (no span is made)', async () => {
    const parents: unknown[] = [];
    class Spy extends Module {
      async forward() {
        parents.push(parentCallId());
        return Prediction.from({});
      }
    }
    const lm: LM = {
      provider: 'p',
      model: 'm',
      generate: async () => {
        parents.push(parentCallId());
        return { text: '[[ ## a ## ]]\nx', usage: { inputTokens: 0, outputTokens: 0 }, model: 'm', cached: false, costUsd: 0 };
      },
    };
    await new Spy().call({});
    await new Predict('q -> a', { lm }).call({ q: '1' });
    expect(parents).toEqual([undefined, undefined]);
    settings.configure({ callbacks: [{}] });
    await new Spy().call({});
    expect(parents[2]).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('recordHistory', () => {
  it('a bound of 0 or less keeps nothing', () => {
    const e = { provider: 'p', model: 'm', messages: [], options: {}, outputs: [], response: { text: '', usage: { inputTokens: 0, outputTokens: 0 }, model: 'm', cached: false, costUsd: 0 }, timestamp: 0, durationMs: 0 };
    recordHistory(e, 0);
    recordHistory(e, -1);
    expect(lmHistory()).toEqual([]);
  });
});

describe('traces', () => {
  it('currentTrace is the list being collected inside withTrace, undefined outside', async () => {
    expect(currentTrace()).toBeUndefined();
    const { result, trace } = await withTrace(() => currentTrace());
    expect(result).toBe(trace);
  });
});
