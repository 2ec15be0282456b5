import { describe, expect, it } from 'vitest';
import { ChainOfThought, ChatAdapter, Example, JSONAdapter, Predict, Signature } from '../../src/dspy/index.js';
import { DummyLM } from '../../src/dspy/dummy_lm.js';

describe('DummyLM', () => {
  it('ordered: returns answers in order, Records in chat format, then fails clearly', async () => {
    const lm = new DummyLM([{ answer: 'a1' }, 'raw two']);
    expect(lm.provider).toBe('dummy');
    expect(lm.model).toBe('dummy');
    const r1 = await lm.generate([{ role: 'user', content: 'hello world!' }]);
    expect(r1).toEqual({
      text: '[[ ## answer ## ]]\na1\n\n[[ ## completed ## ]]',
      usage: { inputTokens: 3, outputTokens: 11 },
      model: 'dummy',
      cached: false,
      costUsd: 0,
    });
    expect((await lm.generate([{ role: 'user', content: 'x' }])).text).toBe('raw two');
    await expect(lm.generate([{ role: 'user', content: 'x' }])).rejects.toThrow(/no more answers/);
    expect(lm.calls).toBe(3);
  });

  it('substring: the first key found in the last message picks the answer', async () => {
    const lm = DummyLM.bySubstring({ France: { answer: 'Paris' }, Japan: { answer: 'Tokyo' } });
    const p = new Predict('question -> answer', { lm });
    expect((await p.call({ question: 'Capital of Japan?' })).get('answer')).toBe('Tokyo');
    expect((await p.call({ question: 'Capital of France?' })).get('answer')).toBe('Paris');
    await expect(p.call({ question: 'Capital of Peru?' })).rejects.toThrow(/no answer key/);
  });

  it('follow the demos: answers with the outputs of the demo whose inputs match', async () => {
    const lm = DummyLM.followExamples();
    const p = new Predict('question, k: int -> answer, n: int', {
      lm,
      demos: [new Example({ question: 'one', k: 1, answer: 'first', n: 10 }), new Example({ question: 'two', k: 2, answer: 'second', n: 20 })],
    });
    expect((await p.call({ question: 'two', k: 2 })).toDict()).toEqual({ answer: 'second', n: 20 });
    // Same question, different k: no demo matches, so deterministic placeholders of the right types.
    const a = (await p.call({ question: 'two', k: 3 })).toDict();
    const b = (await p.call({ question: 'two', k: 3 })).toDict();
    expect(a).toEqual(b);
    expect(a['answer']).toMatch(/^answer-[0-9a-f]{8}$/);
    expect(Number.isInteger(a['n'])).toBe(true);
    expect((await p.call({ question: 'other', k: 3 })).get('answer')).not.toBe(a['answer']);
    const typed = await new Predict("q -> nums: list[int], label: Literal['pos', 'neg'], meta: dict, x: float", { lm }).call({ q: 'z' });
    expect(typed.get<number[]>('nums').every(Number.isInteger)).toBe(true);
    expect(['pos', 'neg']).toContain(typed.get('label'));
    expect(typed.get('meta')).toEqual({});
  });

  it('follow the demos: fills what an incomplete demo does not supply (ChainOfThought with labeled demos)', async () => {
    const cot = new ChainOfThought('question -> answer', { lm: new DummyLM() });
    cot.predict.demos = [new Example({ question: 'q1', answer: 'a1' })];
    const out = await cot.call({ question: 'q1' });
    expect(out.get('answer')).toBe('a1');
    expect(out.get('reasoning')).toMatch(/^reasoning-[0-9a-f]{8}$/);
  });

  it('follow the demos also answers JSONAdapter prompts in JSON', async () => {
    const sig = Signature.parse('q -> a, ok: bool');
    const lm = new DummyLM();
    const json = new JSONAdapter();
    const msgs = json.format(sig, [{ q: 'x', a: 'y', ok: false }], { q: 'x' });
    expect(json.parse(sig, (await lm.generate(msgs)).text)).toEqual({ a: 'y', ok: false });
    const fresh = json.parse(sig, (await lm.generate(json.format(sig, [], { q: 'z' }))).text);
    expect(typeof fresh['ok']).toBe('boolean');
    const chat = new ChatAdapter();
    expect(chat.parse(sig, (await lm.generate(chat.format(sig, [], { q: 'z' }))).text)).toEqual(fresh);
  });

  it('accepts the config form createLM passes, and optional latency', async () => {
    expect(new DummyLM({ mode: 'follow-demos' }).modeName).toBe('follow');
    expect(new DummyLM({ answers: ['a'] }).modeName).toBe('ordered');
    expect(new DummyLM({ answers: { k: 'a' } }).modeName).toBe('substring');
    expect(() => new DummyLM({ mode: 'ordered' })).toThrow(/needs answers/);
    const slow = new DummyLM({ answers: ['x'], latencyMs: 30 });
    const t0 = performance.now();
    await slow.generate([{ role: 'user', content: 'q' }]);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
  });
});
