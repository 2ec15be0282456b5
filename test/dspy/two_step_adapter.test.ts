import { describe, expect, it } from 'vitest';
import { AdapterParseError, clearHistory, Example, JSONAdapter, lmHistory, Predict, settings, Signature, TwoStepAdapter } from '../../src/dspy/index.js';
import { DummyLM } from '../../src/dspy/dummy_lm.js';

describe('TwoStepAdapter', () => {
  it('asks the main LM in plain text, then extracts the fields with the extraction LM', async () => {
    clearHistory();
    const main = new DummyLM(['The capital is Paris, and I am quite sure: 0.9.']);
    const extractor = new DummyLM([{ answer: 'Paris', confidence: 0.9 }]);
    const sig = Signature.parse('question -> answer, confidence: float', 'Answer briefly.', { descriptions: { question: 'The question.' } });
    const p = new Predict(sig, { lm: main, adapter: new TwoStepAdapter({ extractionLM: extractor }), demos: [new Example({ question: 'Q0', answer: 'A0' })] });
    const out = await p.call({ question: 'Capital of France?' });
    expect(out.toDict()).toEqual({ answer: 'Paris', confidence: 0.9 });
    // The main prompt: DSPy's task description, demos as `name: value`, no output format asked.
    expect(main.history[0]!.messages).toEqual([
      {
        role: 'system',
        content:
          'You are a helpful assistant that can solve tasks based on user input.\nAs input, you will be provided with:\n1. `question` (str): The question.\nYour outputs must contain:\n1. `answer` (str): \n2. `confidence` (float):\nYou should lay out your outputs in detail so that your answer can be understood by another agent\nSpecific instructions: Answer briefly.',
      },
      { role: 'user', content: 'This is an example of the task, though some input or output fields are not supplied.\n\nquestion: Q0' },
      { role: 'assistant', content: 'answer: A0' },
      { role: 'user', content: 'question: Capital of France?' },
    ]);
    // The extraction prompt: `text -> answer, confidence` with the main LM's text as input.
    const ex = extractor.history[0]!.messages;
    expect(ex[0]!.content).toContain('1. `text` (str):');
    expect(ex[0]!.content).toContain(
      'The input is a text that should contain all the necessary information to produce the fields `answer`, `confidence`.' + ' '.repeat(13) + 'Your job is to extract the fields from the text verbatim.',
    );
    expect(ex.at(-1)!.content).toContain('[[ ## text ## ]]\nThe capital is Paris, and I am quite sure: 0.9.');
    // Both calls are in the LM history (inspectHistory shows the extraction too).
    expect(lmHistory().map((h) => h.outputs[0])).toEqual([main.history[0]!.text, extractor.history[0]!.text]);
  });

  it('uses the extraction adapter given, and reports a failed extraction as an AdapterParseError', async () => {
    const extractor = new DummyLM(['{"answer": "Rome"}']);
    const adapter = new TwoStepAdapter({ extractionLM: extractor, extractionAdapter: new JSONAdapter() });
    expect((await new Predict('question -> answer', { lm: new DummyLM(['Rome.']), adapter }).call({ question: '?' })).get('answer')).toBe('Rome');
    expect(extractor.history[0]!.messages.at(-1)!.content).toContain('Respond with a JSON object');
    const bad = new TwoStepAdapter({ extractionLM: new DummyLM(['nothing useful']), extractionAdapter: new JSONAdapter() });
    const err = await new Predict('question -> answer', { lm: new DummyLM(['Rome.']), adapter: bad }).call({ question: '?' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdapterParseError);
    expect(err).toMatchObject({ adapter: 'two_step', raw: 'Rome.' });
  });

  it('reports format, both LM calls and parse to callbacks, the extraction nested in the parse', async () => {
    const events: string[] = [];
    const cb = {
      onAdapterFormatStart: () => events.push('format'),
      onAdapterParseStart: () => events.push('parse start'),
      onAdapterParseEnd: () => events.push('parse end'),
      onLMStart: (_id: string, lm: { model: string }) => events.push(`lm ${lm.model}`),
    };
    const adapter = new TwoStepAdapter({ extractionLM: new DummyLM([{ answer: 'Rome' }], { model: 'small' }) });
    const p = new Predict('question -> answer', { lm: new DummyLM(['Rome.'], { model: 'big' }), adapter });
    await settings.context({ callbacks: [cb] }, () => p.call({ question: '?' }));
    // The extraction adapter's own format/parse are reported too (it is a ChatAdapter).
    expect(events).toEqual(['format', 'lm big', 'parse start', 'format', 'lm small', 'parse start', 'parse end', 'parse end']);
  });

  it('refuses a missing extraction LM', () => {
    expect(() => new TwoStepAdapter({} as never)).toThrow(/extractionLM/);
  });
});
