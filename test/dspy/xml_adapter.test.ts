import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AdapterParseError, Example, Predict, Signature, XMLAdapter } from '../../src/dspy/index.js';
import { DummyLM } from '../../src/dspy/dummy_lm.js';

const GOLDEN = new URL('./golden/xml_adapter_format.json', import.meta.url);

function goldenCase() {
  const signature = Signature.parse(
    "question, passages: list[str] -> answer, confidence: float, verdict: Literal['yes', 'no']",
    'Answer the question using only the passages.\nKeep the answer short.',
    { descriptions: { question: 'a factual question', answer: 'a short answer' } },
  );
  const demos = [
    new Example({ question: 'Who wrote Hamlet?', passages: ['Hamlet is a tragedy by William Shakespeare.'], answer: 'William Shakespeare', confidence: 0.9, verdict: 'yes' }),
    // Incomplete: no passages, no confidence, no verdict.
    new Example({ question: 'What is the capital of France?', answer: 'Paris' }),
  ];
  const inputs = { question: 'When was the Eiffel Tower built?', passages: ['The tower was built from 1887 to 1889.', 'It is in Paris.'] };
  // An LM answer with prose around the tags, a repeated tag (the first wins) and a tag for an unknown field.
  const completion =
    'Sure.\n<answer>\n1887 to 1889\n</answer>\n<note>ignored</note>\n<confidence>\n0.8\n</confidence>\n<verdict>\nyes\n</verdict>\n<answer>second answer, ignored</answer>';
  return { signature, demos, inputs, completion };
}

describe('XMLAdapter', () => {
  it('formats and parses as the checked-in golden file (DSPy XMLAdapter)', () => {
    const { signature, demos, inputs, completion } = goldenCase();
    const adapter = new XMLAdapter();
    const actual = {
      signature: signature.toString(),
      instructions: signature.instructions,
      demos: demos.map((d) => d.toDict()),
      inputs,
      messages: adapter.format(signature, demos, inputs),
      completion,
      parsed: adapter.parse(signature, completion),
    };
    if (process.env['UPDATE_GOLDEN'] === '1' || !existsSync(GOLDEN)) {
      if (process.env['UPDATE_GOLDEN'] !== '1') throw new Error(`golden file missing: run with UPDATE_GOLDEN=1 to create ${GOLDEN.pathname}`);
      writeFileSync(GOLDEN, JSON.stringify(actual, null, 2) + '\n');
    }
    expect(actual).toEqual(JSON.parse(readFileSync(GOLDEN, 'utf8')));
  });

  it("reproduces DSPy's exact messages: XML blocks in the structure, demos and request", () => {
    const sig = Signature.parse('question, context -> answer, confidence: float', undefined, {
      descriptions: { question: 'The question.', context: 'The context.', answer: 'The answer.', confidence: 'The confidence.' },
    });
    expect(new XMLAdapter().format(sig, [{ question: 'Q1', answer: 'A1' }, { question: 'Q0', context: 'C0', answer: 'A0', confidence: 0.5 }], { question: 'Q2', context: 'C2' })).toEqual([
      {
        role: 'system',
        content:
          'Your input fields are:\n1. `question` (str): The question.\n2. `context` (str): The context.\nYour output fields are:\n1. `answer` (str): The answer.\n2. `confidence` (float): The confidence.\nAll interactions will be structured in the following way, with the appropriate values filled in.\n\n<question>\n{question}\n</question>\n\n<context>\n{context}\n</context>\n\n<answer>\n{answer}\n</answer>\n\n<confidence>\n{confidence}        # note: the value you produce must be a single float value\n</confidence>\nIn adhering to this structure, your objective is: \n        Given the fields `question`, `context`, produce the fields `answer`, `confidence`.',
      },
      { role: 'user', content: 'This is an example of the task, though some input or output fields are not supplied.\n\n<question>\nQ1\n</question>' },
      { role: 'assistant', content: '<answer>\nA1\n</answer>\n\n<confidence>\nNot supplied for this particular example. \n</confidence>' },
      { role: 'user', content: '<question>\nQ0\n</question>\n\n<context>\nC0\n</context>' },
      { role: 'assistant', content: '<answer>\nA0\n</answer>\n\n<confidence>\n0.5\n</confidence>' },
      {
        role: 'user',
        content: '<question>\nQ2\n</question>\n\n<context>\nC2\n</context>\n\nRespond with the corresponding output fields wrapped in XML tags `<answer>`, then `<confidence>`.',
      },
    ]);
  });

  it('parses the first occurrence of each output field, trimmed and coerced by type', () => {
    const sig = Signature.parse('q -> n: int, tags: list[str], ok: bool, text');
    const out = new XMLAdapter().parse(sig, '<n> 42 </n><tags>["a", "b"]</tags><ok>True</ok><text>\n  multi\nline  \n</text><n>7</n>');
    expect(out).toEqual({ n: 42, tags: ['a', 'b'], ok: true, text: 'multi\nline' });
  });

  it('a missing output field or a value of the wrong type is an AdapterParseError naming the field', () => {
    const sig = Signature.parse('q -> answer, n: int');
    const missing = (() => {
      try {
        new XMLAdapter().parse(sig, '<answer>x</answer>');
      } catch (e) {
        return e;
      }
    })();
    expect(missing).toBeInstanceOf(AdapterParseError);
    expect(missing).toMatchObject({ field: 'n', adapter: 'xml' });
    expect(() => new XMLAdapter().parse(sig, '<answer>x</answer><n>many</n>')).toThrow(/`n`/);
    // Unclosed or mismatched tags do not count.
    expect(() => new XMLAdapter().parse(sig, '<answer>x</answer><n>3</m>')).toThrow(AdapterParseError);
  });

  it('drives Predict, and falls back to the JSON adapter once when the XML does not parse', async () => {
    const lm = new DummyLM(['<answer>Paris</answer>']);
    const p = new Predict('question -> answer', { lm, adapter: new XMLAdapter() });
    expect((await p.call({ question: 'Capital of France?' })).get('answer')).toBe('Paris');
    expect(lm.history[0]!.messages.at(-1)!.content).toContain('wrapped in XML tags `<answer>`');
    const lm2 = new DummyLM(['no tags here', '{"answer": "Rome"}']);
    expect((await new Predict('question -> answer', { lm: lm2, adapter: new XMLAdapter() }).call({ question: '?' })).get('answer')).toBe('Rome');
    expect(lm2.calls).toBe(2);
    const lm3 = new DummyLM(['no tags here']);
    await expect(new Predict('question -> answer', { lm: lm3, adapter: new XMLAdapter({ fallback: false }) }).call({ question: '?' })).rejects.toBeInstanceOf(AdapterParseError);
  });
});
