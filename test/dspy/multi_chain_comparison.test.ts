import { describe, expect, it } from 'vitest';
import { Completions, MultiChainComparison, Prediction } from '../../src/dspy/index.js';
import { DummyLM } from '../../src/dspy/dummy_lm.js';

describe('MultiChainComparison', () => {
  it("builds DSPy's signature and shows each attempt as a student attempt", async () => {
    const lm = new DummyLM([{ rationale: 'compare', answer: 'Paris' }]);
    const mcc = new MultiChainComparison('question -> answer', { lm, m: 2 });
    expect(mcc.predict.signature.toString()).toBe('question, reasoning_attempt_1, reasoning_attempt_2 -> rationale, answer');
    expect(mcc.predict.signature.field('reasoning_attempt_1')!.prefix).toBe('Student Attempt #1:');
    expect(mcc.predict.signature.field('rationale')!.prefix).toBe("Accurate Reasoning: Thank you everyone. Let's now holistically");
    expect(mcc.predict.config.temperature).toBe(0.7);
    const attempts = new Completions([
      { reasoning: 'recall the capital\nmore lines', answer: 'Paris' },
      new Prediction({ rationale: 'guess', answer: 'Lyon\nextra' }),
    ]);
    const out = await mcc.call({ completions: attempts, question: 'Capital of France?' });
    expect(out.toDict()).toEqual({ rationale: 'compare', answer: 'Paris' });
    const user = lm.history[0]!.messages.at(-1)!.content;
    expect(user).toContain("[[ ## reasoning_attempt_1 ## ]]\n«I'm trying to recall the capital I'm not sure but my prediction is Paris»");
    expect(user).toContain("[[ ## reasoning_attempt_2 ## ]]\n«I'm trying to guess I'm not sure but my prediction is Lyon»");
    expect(lm.history[0]!.options?.temperature).toBe(0.7);
  });

  it('refuses a number of attempts other than M', async () => {
    const mcc = new MultiChainComparison('question -> answer', { lm: new DummyLM([]) });
    await expect(mcc.call({ completions: [{ reasoning: 'r', answer: 'a' }], question: 'q' })).rejects.toThrow(/number of attempts \(1\) doesn't match the expected number M \(3\)/);
  });
});
