import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BaseCallback, ChainOfThought, clearHistory, inspectHistory, lmHistory, observed, parentCallId, Predict, settings, type Callback } from '../../src/dspy/index.js';
import { DummyLM } from '../../src/dspy/dummy_lm.js';

beforeEach(() => clearHistory());
afterEach(() => {
  settings.reset();
  clearHistory();
});

describe('inspectHistory', () => {
  it("shows the last n LM calls' messages and responses as DSPy prints them", async () => {
    const lm = new DummyLM([{ answer: 'Paris' }, { answer: 'Rome' }]);
    const p = new Predict('question -> answer', { lm });
    await p.call({ question: 'Capital of France?' });
    await p.call({ question: 'Capital of Italy?' });
    const text = inspectHistory(1);
    const [system, user] = lm.history[1]!.messages;
    const ts = /^\n\n\n\n\[(\d{4}-\d{2}-\d{2}T[\d:.]+Z)\]\n\n/.exec(text);
    expect(ts).not.toBeNull();
    expect(text).toBe(
      `\n\n\n\n[${ts![1]}]\n\nSystem message:\n\n${system!.content.trim()}\n\n\nUser message:\n\n${user!.content.trim()}\n\n\nResponse:\n\n[[ ## answer ## ]]\nRome\n\n[[ ## completed ## ]]\n\n\n\n\n\n`,
    );
    expect(inspectHistory(2)).toContain('Capital of France?');
    expect(inspectHistory(1)).not.toContain('Capital of France?');
    expect(inspectHistory(1, { colors: true })).toContain('\x1b[31mResponse:\x1b[0m');
    expect(lmHistory()[1]).toMatchObject({ provider: 'dummy', model: 'dummy', outputs: [lm.history[1]!.text] });
  });

  it('is bounded by maxHistorySize, off with disableHistory, and records the JSON fallback call too', async () => {
    settings.configure({ maxHistorySize: 2 });
    const lm = new DummyLM([{ answer: 'a' }, { answer: 'b' }, { answer: 'c' }, 'not chat', '{"answer": "d"}']);
    const p = new Predict('question -> answer', { lm });
    for (const q of ['1', '2', '3']) await p.call({ question: q });
    expect(lmHistory().map((h) => h.outputs[0])).toEqual(['[[ ## answer ## ]]\nb\n\n[[ ## completed ## ]]', '[[ ## answer ## ]]\nc\n\n[[ ## completed ## ]]']);
    await p.call({ question: '4' });
    expect(lmHistory().map((h) => h.outputs[0])).toEqual(['not chat', '{"answer": "d"}']);
    clearHistory();
    settings.configure({ disableHistory: true });
    await new Predict('question -> answer', { lm: new DummyLM([{ answer: 'x' }]) }).call({ question: 'q' });
    expect(lmHistory()).toEqual([]);
  });
});

describe('callbacks', () => {
  class Recorder extends BaseCallback {
    events: string[] = [];
    parents: Array<string | undefined> = [];
    ids = new Map<string, string>();
    private log(e: string, id: string) {
      this.events.push(e);
      this.ids.set(e, id);
    }
    override onModuleStart(id: string, instance: unknown) {
      this.log(`module start ${(instance as object).constructor.name}`, id);
      this.parents.push(parentCallId());
    }
    override onModuleEnd(id: string, _out: unknown, error: unknown) {
      this.log(`module end${error ? ' (error)' : ''}`, id);
    }
    override onLMStart(id: string) {
      this.log('lm start', id);
    }
    override onLMEnd(id: string, out: { text: string } | undefined) {
      this.log(`lm end ${out?.text.includes('Paris') ? 'Paris' : '?'}`, id);
    }
    override onAdapterFormatStart(id: string) {
      this.log('format start', id);
    }
    override onAdapterFormatEnd(id: string) {
      this.log('format end', id);
    }
    override onAdapterParseStart(id: string) {
      this.log('parse start', id);
    }
    override onAdapterParseEnd(id: string, out: unknown) {
      this.log(`parse end ${JSON.stringify(out)}`, id);
    }
  }

  it('report module, adapter and LM start/end events in order, with matching call ids and parents', async () => {
    const rec = new Recorder();
    settings.configure({ callbacks: [rec] });
    const cot = new ChainOfThought('question -> answer', { lm: new DummyLM([{ reasoning: 'r', answer: 'Paris' }]) });
    await cot.call({ question: 'Capital of France?' });
    expect(rec.events).toEqual([
      'module start ChainOfThought',
      'module start Predict',
      'format start',
      'format end',
      'lm start',
      'lm end Paris',
      'parse start',
      'parse end {"reasoning":"r","answer":"Paris"}',
      'module end',
      'module end',
    ]);
    // The inner Predict's parent is the ChainOfThought call.
    expect(rec.parents).toEqual([undefined, rec.ids.get('module start ChainOfThought')]);
  });

  it('per-module callbacks see that module only; a context replaces the global list; errors reach onModuleEnd; a throwing callback is ignored', async () => {
    const own = new Recorder();
    const p = new Predict('question -> answer', { lm: new DummyLM([{ answer: 'Paris' }, 'garbage', 'garbage']), callbacks: [own] });
    const broken: Callback = {
      onModuleStart() {
        throw new Error('observer bug');
      },
    };
    const global = new Recorder();
    settings.configure({ callbacks: [broken, global] });
    await p.call({ question: 'q' });
    expect(own.events).toEqual(['module start Predict', 'module end']);
    expect(global.events).toContain('lm start');
    const scoped = new Recorder();
    await expect(settings.context({ callbacks: [scoped] }, () => p.call({ question: 'q2' }))).rejects.toThrow();
    expect(scoped.events[0]).toBe('module start Predict');
    expect(scoped.events.at(-1)).toBe('module end (error)');
    expect(global.events.filter((e) => e.startsWith('module start'))).toHaveLength(1);
  });

  it('observed() wraps any call (the hook evaluators and user components use): start, end with result or error', async () => {
    const seen: unknown[] = [];
    const cb: Callback = {
      onEvaluateStart: (id, _inst, inputs) => seen.push(['start', typeof id, inputs]),
      onEvaluateEnd: (_id, out, err) => seen.push(['end', out, err instanceof Error ? err.message : err]),
    };
    expect(await observed([cb], 'Evaluate', {}, { n: 1 }, () => 42)).toBe(42);
    await expect(observed([cb], 'Evaluate', {}, { n: 2 }, () => Promise.reject(new Error('bad')))).rejects.toThrow('bad');
    expect(seen).toEqual([
      ['start', 'string', { n: 1 }],
      ['end', 42, undefined],
      ['start', 'string', { n: 2 }],
      ['end', undefined, 'bad'],
    ]);
  });
});
