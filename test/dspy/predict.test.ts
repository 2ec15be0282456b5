import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { AdapterParseError, ChainOfThought, Example, JSONAdapter, Predict, Prediction, REASONING_PREFIX, settings, Signature } from '../../src/dspy/index.js';
import { DummyLM } from '../../src/dspy/dummy_lm.js';

describe('Predict', () => {
  it('returns typed outputs and sends demos as user/assistant pairs', async () => {
    const lm = new DummyLM([{ answer: 5, tags: ['x', 'y'] }]);
    const p = new Predict('question -> answer: int, tags: list[str]', { lm, demos: [new Example({ question: 'q', answer: 1, tags: ['t'] })] });
    const out = await p.call({ question: 'How many?' });
    expect(out).toBeInstanceOf(Prediction);
    expect(out.toDict()).toEqual({ answer: 5, tags: ['x', 'y'] });
    expect(lm.history[0]!.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(lm.history[0]!.messages[2]!.content).toBe('[[ ## answer ## ]]\n1\n\n[[ ## tags ## ]]\n["t"]\n\n[[ ## completed ## ]]\n');
  });

  it('rejects a wrong-typed output after the JSON retry also fails', async () => {
    const lm = new DummyLM([{ answer: 'many' }, '{"answer": "lots"}']);
    await expect(new Predict('question -> answer: int', { lm }).call({ question: '?' })).rejects.toMatchObject({ field: 'answer' });
    expect(lm.calls).toBe(2);
  });

  it('validates structured outputs with zod', async () => {
    const Person = z.object({ name: z.string(), age: z.number().int() }).meta({ title: 'Person' });
    const sig = new Signature({ inputs: [{ name: 'text' }], outputs: [{ name: 'person', type: Person }] });
    expect(sig.field('person')!.type).toBe('Person');
    const ok = new DummyLM(['[[ ## person ## ]]\n{"name": "Ada", "age": 36}']);
    expect((await new Predict(sig, { lm: ok }).call({ text: 't' })).get('person')).toEqual({ name: 'Ada', age: 36 });
    const bad = new DummyLM(['[[ ## person ## ]]\n{"name": "Ada"}', '{"person": {"name": "Ada", "age": "old"}}']);
    const err = await new Predict(sig, { lm: bad }).call({ text: 't' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdapterParseError);
    expect((err as Error).message).toMatch(/does not match Person/);
  });

  it('uses the adapter from settings when it has none', async () => {
    const lm = new DummyLM(['{"answer": "json!"}']);
    const out = await settings.context({ adapter: new JSONAdapter(), lm }, () => new Predict('q -> answer').call({ q: '?' }));
    expect(out.get('answer')).toBe('json!');
    expect(lm.history[0]!.messages[0]!.content).toContain('Outputs will be a JSON object');
  });
});

describe('ChainOfThought', () => {
  it('adds a `reasoning` output first and yields it', async () => {
    const lm = new DummyLM([{ reasoning: 'two plus two is four', answer: '4' }]);
    const cot = new ChainOfThought('question -> answer', { lm });
    expect(cot.signature.outputNames).toEqual(['reasoning', 'answer']);
    expect(cot.signature.field('reasoning')!.prefix).toBe(REASONING_PREFIX);
    expect(cot.signature.instructions).toBe('Given the fields `question`, produce the fields `answer`.');
    const out = await cot.call({ question: '2+2?' });
    expect(out.toDict()).toEqual({ reasoning: 'two plus two is four', answer: '4' });
    expect(lm.history[0]!.messages.at(-1)!.content).toContain('starting with the field `[[ ## reasoning ## ]]`, then `[[ ## answer ## ]]`');
    expect(cot.namedPredictors().map(([n]) => n)).toEqual(['predict']);
  });
});
