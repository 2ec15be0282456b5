import { describe, expect, it } from 'vitest';
import { Example, Prediction } from '../../src/dspy/index.js';

describe('Example', () => {
  const ex = new Example({ question: 'q', context: 'c', answer: 'a', dspy_uuid: 'u' }).withInputs('question', 'context');

  it('splits inputs and labels by input keys', () => {
    expect(ex.inputKeys).toEqual(['question', 'context']);
    expect(ex.inputs().toDict()).toEqual({ question: 'q', context: 'c' });
    expect(ex.labels().toDict()).toEqual({ answer: 'a', dspy_uuid: 'u' });
    expect(ex.keys()).toEqual(['question', 'context', 'answer']);
    expect(ex.keys(true)).toContain('dspy_uuid');
    expect(() => new Example({ a: 1 }).inputs()).toThrow(/withInputs/);
  });

  it('is immutable: updates return copies', () => {
    const d = ex.toDict();
    d['question'] = 'changed';
    expect(ex.get('question')).toBe('q');
    const c = ex.copy({ answer: 'b' });
    expect(c.get('answer')).toBe('b');
    expect(ex.get('answer')).toBe('a');
    expect(c.inputKeys).toEqual(ex.inputKeys);
    expect(ex.without('answer').has('answer')).toBe(false);
    expect(ex.has('answer')).toBe(true);
    expect(() => {
      (ex as unknown as { data: Record<string, unknown> }).data['x'] = 1;
    }).toThrow();
    expect(ex.get('missing', 'dflt')).toBe('dflt');
  });

  it('Prediction is an Example of outputs', () => {
    const p = Prediction.from({ answer: 42 });
    expect(p).toBeInstanceOf(Example);
    expect(p.get('answer')).toBe(42);
    expect(p.copy({ answer: 1 })).toBeInstanceOf(Prediction);
    expect(JSON.parse(JSON.stringify(p))).toEqual({ answer: 42 });
  });
});
