import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AdapterParseError, ChatAdapter, Example, JSONAdapter, Predict, Signature } from '../../src/dspy/index.js';
import { DummyLM } from '../../src/dspy/dummy_lm.js';

const GOLDEN = new URL('./golden/chat_adapter_format.json', import.meta.url);

function goldenCase() {
  const signature = Signature.parse(
    'question, passages: list[str] -> answer, confidence: float',
    'Answer the question using only the passages.\nKeep the answer short.',
    { descriptions: { question: 'a factual question', answer: 'a short answer' } },
  );
  const demos = [
    new Example({ question: 'Who wrote Hamlet?', passages: ['Hamlet is a tragedy by William Shakespeare.'], answer: 'William Shakespeare', confidence: 0.9 }),
    // Incomplete: no passages, no confidence.
    new Example({ question: 'What is the capital of France?', answer: 'Paris' }),
  ];
  const inputs = { question: 'When was the Eiffel Tower built?', passages: ['The tower was built from 1887 to 1889.', 'It is in Paris.'] };
  return { signature, demos, inputs };
}

describe('ChatAdapter formatting', () => {
  it('matches the checked-in golden file (DSPy 2.6 chat format)', () => {
    const { signature, demos, inputs } = goldenCase();
    const messages = new ChatAdapter().format(signature, demos, inputs);
    const actual = { signature: signature.toString(), instructions: signature.instructions, demos: demos.map((d) => d.toDict()), inputs, messages };
    if (process.env['UPDATE_GOLDEN'] === '1' || !existsSync(GOLDEN)) {
      if (process.env['UPDATE_GOLDEN'] !== '1') throw new Error(`golden file missing: run with UPDATE_GOLDEN=1 to create ${GOLDEN.pathname}`);
      writeFileSync(GOLDEN, JSON.stringify(actual, null, 2) + '\n');
    }
    expect(actual).toEqual(JSON.parse(readFileSync(GOLDEN, 'utf8')));
  });

  it("reproduces DSPy's exact messages for an incomplete demo, a list given to a str field and a Literal output", () => {
    const sig = Signature.parse('question, context -> answer, confidence: float', undefined, {
      descriptions: { question: 'The question.', context: 'The context.', answer: 'The answer.', confidence: 'The confidence.' },
    });
    expect(new ChatAdapter().format(sig, [{ question: 'Q1', answer: 'A1' }], { question: 'Q2', context: 'C2' })).toEqual([
      {
        role: 'system',
        content:
          'Your input fields are:\n1. `question` (str): The question.\n2. `context` (str): The context.\nYour output fields are:\n1. `answer` (str): The answer.\n2. `confidence` (float): The confidence.\nAll interactions will be structured in the following way, with the appropriate values filled in.\n\n[[ ## question ## ]]\n{question}\n\n[[ ## context ## ]]\n{context}\n\n[[ ## answer ## ]]\n{answer}\n\n[[ ## confidence ## ]]\n{confidence}        # note: the value you produce must be a single float value\n\n[[ ## completed ## ]]\nIn adhering to this structure, your objective is: \n        Given the fields `question`, `context`, produce the fields `answer`, `confidence`.',
      },
      { role: 'user', content: 'This is an example of the task, though some input or output fields are not supplied.\n\n[[ ## question ## ]]\nQ1' },
      { role: 'assistant', content: '[[ ## answer ## ]]\nA1\n\n[[ ## confidence ## ]]\nNot supplied for this particular example.\n\n[[ ## completed ## ]]\n' },
      {
        role: 'user',
        content:
          '[[ ## question ## ]]\nQ2\n\n[[ ## context ## ]]\nC2\n\nRespond with the corresponding output fields, starting with the field `[[ ## answer ## ]]`, then `[[ ## confidence ## ]]` (must be formatted as a valid Python float), and then ending with the marker for `[[ ## completed ## ]]`.',
      },
    ]);
    const list = new ChatAdapter().format(Signature.parse('context -> answer'), [], { context: ['alpha', 'beta'] });
    expect(list[1]!.content).toBe(
      '[[ ## context ## ]]\n[1] «alpha»\n[2] «beta»\n\nRespond with the corresponding output fields, starting with the field `[[ ## answer ## ]]`, and then ending with the marker for `[[ ## completed ## ]]`.',
    );
    const lit = new ChatAdapter().format(Signature.parse("question -> verdict: Literal['yes', 'no']", undefined, { descriptions: { verdict: 'The verdict.' } }), [], { question: 'Is the sky blue?' });
    expect(lit[0]!.content).toContain("1. `verdict` (Literal['yes', 'no']): The verdict.");
    expect(lit[0]!.content).toContain('{verdict}        # note: the value you produce must exactly match (no extra characters) one of: yes; no');
    expect(lit[1]!.content).toContain("starting with the field `[[ ## verdict ## ]]` (must be formatted as a valid Python Literal['yes', 'no']), and then");
  });

  it('puts incomplete demos first, drops demos with no input or no output', () => {
    const sig = Signature.parse('q -> a');
    const msgs = new ChatAdapter().format(sig, [{ q: '1', a: 'x' }, { q: 'only input' }, { a: 'only output' }, { q: '2', a: null }], { q: '3' });
    expect(msgs.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user', 'assistant', 'user']);
    expect(msgs[1]!.content).toBe('This is an example of the task, though some input or output fields are not supplied.\n\n[[ ## q ## ]]\n2');
    expect(msgs[2]!.content).toBe('[[ ## a ## ]]\nNone\n\n[[ ## completed ## ]]\n');
    expect(msgs[3]!.content).toBe('[[ ## q ## ]]\n1');
  });

  it('shows str-typed lists as numbered blobs and non-str outputs with type notes', () => {
    const sig = Signature.parse('docs -> n: int, ok: bool, tags: list[str]');
    const [system, user] = new ChatAdapter().format(sig, [], { docs: ['one', 'two\nlines'] });
    expect(user!.content).toContain('[[ ## docs ## ]]\n[1] «one»\n[2] «««\n    two\n    lines\n»»»');
    expect(system!.content).toContain('{n}        # note: the value you produce must be a single int value');
    expect(system!.content).toContain('{ok}        # note: the value you produce must be True or False');
    expect(system!.content).toContain('{tags}        # note: the value you produce must adhere to the JSON schema: {"type": "array", "items": {"type": "string"}}');
    expect(user!.content).toContain(
      'starting with the field `[[ ## n ## ]]` (must be formatted as a valid Python int), then `[[ ## ok ## ]]` (must be formatted as a valid Python bool), then `[[ ## tags ## ]]` (must be formatted as a valid Python list[str])',
    );
  });
});

describe('ChatAdapter parsing', () => {
  const sig = Signature.parse('q -> reasoning, answer: int');
  const adapter = new ChatAdapter();

  it('splits on header lines; the first occurrence of a field wins', () => {
    const out = adapter.parse(
      sig,
      'Sure!\n[[ ## reasoning ## ]]\nstep one\nstep two\n\n[[ ## answer ## ]] 42\n[[ ## answer ## ]]\n7\n[[ ## completed ## ]]',
    );
    expect(out).toEqual({ reasoning: 'step one\nstep two', answer: 42 });
  });

  it('a missing output field is an AdapterParseError carrying the raw text and the field', () => {
    const raw = '[[ ## reasoning ## ]]\nhmm\n[[ ## completed ## ]]';
    let err: unknown;
    try {
      adapter.parse(sig, raw);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AdapterParseError);
    expect(err).toMatchObject({ raw, field: 'answer', adapter: 'chat' });
    expect((err as Error).message).toMatch(/no `\[\[ ## answer ## \]\]` section/);
  });

  it('coerces typed outputs and rejects values of the wrong type', () => {
    const t = Signature.parse("q -> n: int, x: float, ok: bool, tags: list[str], meta: dict, label: Literal['pos', 'neg']");
    const good = '[[ ## n ## ]]\n 3 \n[[ ## x ## ]]\n2.5\n[[ ## ok ## ]]\nTrue\n[[ ## tags ## ]]\n[\'a\', "b",]\n[[ ## meta ## ]]\n{"k": 1}\n[[ ## label ## ]]\n\'neg\'';
    expect(adapter.parse(t, good)).toEqual({ n: 3, x: 2.5, ok: true, tags: ['a', 'b'], meta: { k: 1 }, label: 'neg' });
    const bad = (field: string, value: string) => {
      const text = good.replace(new RegExp(`(\\[\\[ ## ${field} ## \\]\\]\\n)[^\\n]*`), `$1${value}`);
      expect(() => adapter.parse(t, text)).toThrow(AdapterParseError);
      try {
        adapter.parse(t, text);
      } catch (e) {
        expect((e as AdapterParseError).field).toBe(field);
      }
    };
    bad('n', '3.5');
    bad('n', 'three');
    bad('x', 'fast');
    bad('ok', 'maybe');
    bad('tags', '"just a string"');
    bad('tags', '[1, 2]');
    bad('meta', '[1]');
    bad('label', 'neutral');
  });
});

describe('JSONAdapter', () => {
  const sig = Signature.parse('q -> answer, n: int');
  const adapter = new JSONAdapter();

  it('asks for a JSON object with the output fields', () => {
    const msgs = adapter.format(sig, [{ q: 'a', answer: 'b', n: 1 }], { q: 'c' });
    expect(msgs[0]!.content).toContain('Outputs will be a JSON object with the following fields.\n\n{\n  "answer": "{answer}",\n  "n": "{n}        # note: the value you produce must be a single int value"\n}');
    expect(msgs[2]!.content).toBe('{\n  "answer": "b",\n  "n": 1\n}');
    expect(msgs[3]!.content).toBe('[[ ## q ## ]]\nc\n\nRespond with a JSON object in the following order of fields: `answer`, then `n` (must be formatted as a valid Python int).');
  });

  it('tolerates fences, prose, trailing commas, single quotes and Python literals', () => {
    expect(adapter.parse(sig, 'Here you go:\n```json\n{"answer": "x", "n": 2,}\n```\nHope that helps')).toEqual({ answer: 'x', n: 2 });
    expect(adapter.parse(sig, "Result: {'answer': 'it\\'s {braced}', 'n': '5'} done")).toEqual({ answer: "it's {braced}", n: 5 });
    expect(adapter.parse(Signature.parse('q -> ok: bool, v'), '{"ok": True, "v": None}')).toEqual({ ok: true, v: '' });
    expect(adapter.parse(sig, '{"answer": "line1\nline2", "n": 1}')).toEqual({ answer: 'line1\nline2', n: 1 });
  });

  it('raises typed errors for non-objects, missing keys and wrong types', () => {
    expect(() => adapter.parse(sig, 'no json here')).toThrow(AdapterParseError);
    expect(() => adapter.parse(sig, '{"answer": "x"}')).toThrow(/no `n` key/);
    expect(() => adapter.parse(sig, '{"answer": "x", "n": "many"}')).toThrow(/`n` as int/);
  });
});

describe('fallback from ChatAdapter to JSONAdapter', () => {
  it('retries once in JSON mode when the chat answer does not parse', async () => {
    const lm = new DummyLM(['I think the answer is 4.', '```json\n{"answer": "4"}\n```']);
    const p = new Predict('question -> answer', { lm });
    const out = await p.call({ question: '2+2?' });
    expect(out.get('answer')).toBe('4');
    expect(lm.calls).toBe(2);
    expect(lm.history[1]!.messages[0]!.content).toContain('Outputs will be a JSON object');
  });

  it('reports the JSON attempt with the chat failure as its cause when both fail', async () => {
    const lm = new DummyLM(['nope', 'still nope']);
    const err = await new Predict('question -> answer', { lm }).call({ question: '?' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdapterParseError);
    expect(err).toMatchObject({ raw: 'still nope', adapter: 'json' });
    expect((err as Error).cause).toMatchObject({ raw: 'nope', adapter: 'chat', field: 'answer' });
    expect(lm.calls).toBe(2);
  });

  it('does not retry errors that are not parse errors, nor when fallback is off', async () => {
    const lm = new DummyLM(['broken']);
    const p = new Predict('question -> answer', { lm, adapter: new ChatAdapter({ fallback: false }) });
    await expect(p.call({ question: '?' })).rejects.toMatchObject({ adapter: 'chat' });
    expect(lm.calls).toBe(1);
    const failing = new DummyLM([]);
    await expect(new Predict('q -> a', { lm: failing }).call({ q: '?' })).rejects.toThrow(/no more answers/);
    expect(failing.calls).toBe(1);
  });
});
