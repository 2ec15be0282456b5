// The adapters' shared rules, as DSPy applies them: how values are shown (format_field_value,
// format_blob, str()), which demos are sent and how, the task description's dedent, how
// completions are split and read, and when the JSON fallback runs.
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import {
  AdapterParseError,
  ChatAdapter,
  Example,
  formatFieldValue,
  formatXmlBlocks,
  JSONAdapter,
  Predict,
  settings,
  Signature,
  splitSections,
  TwoStepAdapter,
  XMLAdapter,
  xmlSections,
  type Adapter,
  type AdapterResult,
} from '../../src/dspy/index.js';
import { fieldDescriptions, formatFieldBlocks, parseOutputField, partitionDemos, pyStr, taskDescription } from '../../src/dspy/adapter.js';
import { DummyLM } from '../../src/dspy/dummy_lm.js';
import type { LMResponse } from '../../src/lm/types.js';

const str = Signature.parse('q -> a').field('a')!;
const listOfStr = Signature.parse('q -> a: list[str]').field('a')!;

describe("values in prompts (DSPy's format_field_value)", () => {
  it('a list for a str field: N/A when empty, one blob, or numbered blobs', () => {
    expect(formatFieldValue(str, [])).toBe('N/A');
    expect(formatFieldValue(str, ['only'])).toBe('«only»');
    expect(formatFieldValue(str, [1, null, true])).toBe('[1] «1»\n[2] «None»\n[3] «True»');
    expect(formatFieldValue(undefined, ['x', 'y'])).toBe('[1] «x»\n[2] «y»');
  });

  it('a blob with a newline or a guillemet gets the triple form, indented', () => {
    expect(formatFieldValue(str, ['two\nlines'])).toBe('«««\n    two\n    lines\n»»»');
    expect(formatFieldValue(str, ['a «quote»'])).toBe('«««\n    a «quote»\n»»»');
    expect(formatFieldValue(str, ['end»'])).toBe('«««\n    end»\n»»»');
  });

  it('a list for a typed field is JSON; other values as Python str()', () => {
    expect(formatFieldValue(listOfStr, ['a', 'b'])).toBe('["a", "b"]');
    expect(formatFieldValue(str, { k: [1, 'é'] })).toBe('{"k": [1, "é"]}');
    expect(pyStr(null)).toBe('None');
    expect(pyStr(undefined)).toBe('None');
    expect(pyStr(true)).toBe('True');
    expect(pyStr(false)).toBe('False');
    expect(pyStr(2.5)).toBe('2.5');
    expect(pyStr(7n)).toBe('7');
    expect(pyStr('text')).toBe('text');
    expect(pyStr(new Date(Date.UTC(2024, 1, 3)))).toBe('2024-02-03T00:00:00.000Z');
    expect(pyStr(new Example({ x: 1 }))).toBe('{"x": 1}');
  });

  it('field descriptions: numbered, type in parentheses, description after the colon', () => {
    const s = Signature.parse('q, k: int -> a', undefined, { descriptions: { k: 'how many' } });
    expect(fieldDescriptions(s.inputFields)).toBe('1. `q` (str): \n2. `k` (int): how many');
    expect(fieldDescriptions([])).toBe('');
  });

  it('field blocks: present values only, or the missing text for absent ones', () => {
    const s = Signature.parse('a, b, c -> d');
    expect(formatFieldBlocks(s.inputFields, { a: 1, b: undefined, c: null })).toBe('[[ ## a ## ]]\n1\n\n[[ ## c ## ]]\nNone');
    expect(formatFieldBlocks(s.inputFields, { a: 1 }, 'MISSING')).toBe('[[ ## a ## ]]\n1\n\n[[ ## b ## ]]\nMISSING\n\n[[ ## c ## ]]\nMISSING');
    expect(formatFieldBlocks(s.inputFields, {})).toBe('');
  });
});

describe('which demos are sent, and how (DSPy: incomplete ones first, marked)', () => {
  const sig = Signature.parse('q, ctx -> a, b');

  it('a demo is complete when every field has a non-null value; partial demos need an input and an output', () => {
    const demos = [
      { q: '1', ctx: 'c', a: 'x', b: 'y' },
      new Example({ q: '2', ctx: 'c', a: 'x', b: null }),
      { q: '3', a: 'x' },
      { ctx: 'only inputs', q: '4' },
      { a: 'only', b: 'outputs' },
      { q: '5', ctx: undefined, a: undefined, b: 'y' },
      {},
    ];
    const { complete, incomplete } = partitionDemos(sig, demos);
    expect(complete.map((d) => d['q'])).toEqual(['1']);
    expect(incomplete.map((d) => d['q'])).toEqual(['2', '3', '5']);
  });

  it('no demos: just the system message and the request', () => {
    const msgs = new ChatAdapter().format(sig, [], { q: 'x', ctx: 'y' });
    expect(msgs.map((m) => m.role)).toEqual(['system', 'user']);
  });

  it('the JSON adapter fills missing outputs of an incomplete demo, and leaves out absent ones otherwise', () => {
    const j = new JSONAdapter();
    const msgs = j.format(sig, [{ q: '1', a: 'x' }], { q: 'z', ctx: 'w' });
    expect(msgs[1]!.content).toBe('This is an example of the task, though some input or output fields are not supplied.\n\n[[ ## q ## ]]\n1');
    expect(msgs[2]!.content).toBe('{\n  "a": "x",\n  "b": "Not supplied for this particular example. "\n}');
    expect(j.assistantMessage(sig, { a: 'x', b: undefined })).toBe('{\n  "a": "x"\n}');
  });
});

describe("the objective (DSPy's format_task_description with textwrap.dedent)", () => {
  it('dedents the common indentation, keeps the rest, blanks whitespace-only lines', () => {
    expect(taskDescription('Answer.')).toBe('In adhering to this structure, your objective is: \n        Answer.');
    expect(taskDescription('    Line one.\n      Indented.\n   \n    Line three.')).toBe(
      'In adhering to this structure, your objective is: \n        Line one.\n          Indented.\n        \n        Line three.',
    );
    expect(taskDescription('\tTab.\n\tTab two.')).toBe('In adhering to this structure, your objective is: \n        Tab.\n        Tab two.');
    expect(taskDescription('  a\n\tb')).toBe('In adhering to this structure, your objective is: \n          a\n        \tb');
    expect(taskDescription('  a\n  \tb')).toBe('In adhering to this structure, your objective is: \n        a\n        \tb');
    expect(taskDescription('x\r\ny')).toBe('In adhering to this structure, your objective is: \n        x\n        y');
    expect(taskDescription('  \n  only')).toBe('In adhering to this structure, your objective is: \n        \n        only');
  });

  it('the system message is built once per signature and is the same text each time', () => {
    const a = new ChatAdapter();
    const s = Signature.parse('q -> a', '  Indented instructions.');
    const first = a.format(s, [], { q: '1' })[0]!.content;
    expect(a.format(s, [], { q: '2' })[0]!.content).toBe(first);
    expect(first.endsWith('your objective is: \n        Indented instructions.')).toBe(true);
    expect(new ChatAdapter().systemMessage(s.withInstructions('Other.'))).toContain('objective is: \n        Other.');
  });
});

describe('ChatAdapter: reading the completion', () => {
  it('headers may carry text on their line, may be indented, and must be word names', () => {
    expect(splitSections('intro\n  [[ ## a ## ]] first\nmore\r\n[[ ## b-c ## ]]\nstill a\n[[ ## d ## ]]')).toEqual([
      ['a', 'first\nmore\n[[ ## b-c ## ]]\nstill a'],
      ['d', ''],
    ]);
    expect(splitSections('no headers at all')).toEqual([]);
  });

  it('unknown sections are ignored; a missing field names what was found', () => {
    const s = Signature.parse('q -> a, b');
    const chat = new ChatAdapter();
    expect(chat.parse(s, '[[ ## x ## ]]\n1\n[[ ## a ## ]]\n2\n[[ ## b ## ]]\n3')).toEqual({ a: '2', b: '3' });
    expect(() => chat.parse(s, '[[ ## a ## ]]\n2')).toThrow(/expected a, b; got a\)/);
    expect(() => chat.parse(s, 'nothing')).toThrow(/got none\)/);
  });

  it('a type error that is not a coercion error propagates as is', () => {
    const Boom = z.string().transform(() => {
      throw new RangeError('boom');
    });
    const s = new Signature({ inputs: [], outputs: [{ name: 'x', type: Boom }] });
    expect(() => parseOutputField('chat', s.field('x')!, 'v', true, 'raw')).toThrow(RangeError);
    try {
      parseOutputField('json', Signature.parse('q -> n: int').field('n')!, 'x', true, 'the raw');
    } catch (e) {
      expect(e).toMatchObject({ adapter: 'json', field: 'n', raw: 'the raw' });
      expect((e as Error).cause).toBeDefined();
    }
  });

  it('an AdapterParseError carries a cause only when given one', () => {
    expect('cause' in new AdapterParseError('m', { raw: 'r', adapter: 'a' })).toBe(false);
    const e = new AdapterParseError('m', { raw: 'r', adapter: 'a', cause: 0 });
    expect(e.cause).toBe(0);
    expect(e.name).toBe('AdapterParseError');
    expect(e.field).toBeUndefined();
  });
});

describe('ChatAdapter: the JSON fallback', () => {
  const response = (text: string): LMResponse => ({ text, usage: { inputTokens: 0, outputTokens: 0 }, model: 'm', cached: false, costUsd: 0 });

  it('uses the fallback adapter given', async () => {
    const calls: string[] = [];
    const fallback: Adapter = {
      name: 'mine',
      format: () => [],
      parse: () => ({}),
      call: async (): Promise<AdapterResult> => {
        calls.push('fallback');
        return { outputs: { a: 'from fallback' }, response: response('x'), adapter: 'mine' };
      },
    };
    const p = new Predict('q -> a', { lm: new DummyLM(['unparseable']), adapter: new ChatAdapter({ fallback }) });
    expect((await p.call({ q: '?' })).get('a')).toBe('from fallback');
    expect(calls).toEqual(['fallback']);
  });

  it("a fallback's failure that is not a parse error propagates unchanged", async () => {
    const boom = new TypeError('network down');
    const fallback: Adapter = {
      name: 'mine',
      format: () => [],
      parse: () => ({}),
      call: async () => {
        throw boom;
      },
    };
    const p = new Predict('q -> a', { lm: new DummyLM(['unparseable']), adapter: new ChatAdapter({ fallback }) });
    await expect(p.call({ q: '?' })).rejects.toBe(boom);
  });

  it('reports format and parse to callbacks (also for a failed parse)', async () => {
    const events: string[] = [];
    settings.configure({
      callbacks: [
        {
          onAdapterFormatEnd: (_id, out) => events.push(`format ${out?.length}`),
          onAdapterParseStart: (_id, _i, inputs) => events.push(`parse ${String(inputs['completion'])}`),
          onAdapterParseEnd: (_id, out, err) => events.push(`parsed ${JSON.stringify(out)} ${err ? 'error' : 'ok'}`),
        },
      ],
    });
    try {
      await new Predict('q -> a', { lm: new DummyLM(['bad', { a: 'x' }]), adapter: new ChatAdapter({ fallback: false }) })
        .call({ q: '1' })
        .catch(() => undefined);
      expect(events).toEqual(['format 2', 'parse bad', 'parsed undefined error']);
    } finally {
      settings.reset();
    }
  });
});

describe('JSONAdapter: reading the completion', () => {
  const sig = Signature.parse('q -> a, n: int');
  const j = new JSONAdapter();

  it('only an object will do; extra keys are ignored', () => {
    expect(() => j.parse(sig, '[1, 2]')).toThrow(/not a JSON object/);
    expect(() => j.parse(sig, 'null')).toThrow(/not a JSON object/);
    expect(() => j.parse(sig, '"text"')).toThrow(AdapterParseError);
    expect(j.parse(sig, '{"a": "x", "n": 1, "extra": true}')).toEqual({ a: 'x', n: 1 });
    expect(j.parse(sig, '```\n{"a": "x", "n": "2"}\n```')).toEqual({ a: 'x', n: 2 });
    expect(() => j.parse(sig, '{}')).toThrow(/no `a` key \(expected a, n; got none\)/);
    expect(() => j.parse(sig, '{"a": 1}')).toThrow(/got a\)/);
    try {
      j.parse(sig, 'not json');
    } catch (e) {
      expect(e).toMatchObject({ adapter: 'json', raw: 'not json', field: undefined });
      expect((e as Error).cause).toBeInstanceOf(SyntaxError);
    }
  });

  it("a key that is only on the object's prototype is missing", () => {
    expect(() => j.parse(Signature.parse('q -> constructor'), '{"other": 1}')).toThrow(/no `constructor` key/);
  });

  it('the structure for a signature with several inputs and typed outputs', () => {
    const s = Signature.parse('q, k: int -> a, tags: list[str]');
    expect(j.fieldStructure(s)).toBe(
      'All interactions will be structured in the following way, with the appropriate values filled in.\n\nInputs will have the following structure:\n\n[[ ## q ## ]]\n{q}\n\n[[ ## k ## ]]\n{k}\n\nOutputs will be a JSON object with the following fields.\n\n{\n  "a": "{a}",\n  "tags": "{tags}        # note: the value you produce must adhere to the JSON schema: {\\"type\\": \\"array\\", \\"items\\": {\\"type\\": \\"string\\"}}"\n}',
    );
    expect(j.outputRequirements(s)).toBe('Respond with a JSON object in the following order of fields: `a`, then `tags` (must be formatted as a valid Python list[str]).');
  });
});

describe('XMLAdapter', () => {
  it('blocks: present values, or the missing text; the first occurrence of a tag wins', () => {
    const s = Signature.parse('a, b -> c');
    expect(formatXmlBlocks(s.inputFields, { a: 1, b: undefined })).toBe('<a>\n1\n</a>');
    expect(formatXmlBlocks(s.inputFields, { a: 1 }, 'N')).toBe('<a>\n1\n</a>\n\n<b>\nN\n</b>');
    expect([...xmlSections('<a> 1 </a><a>2</a>\n<b>\nx\ny\n</b><c>open')]).toEqual([
      ['a', '1'],
      ['b', 'x\ny'],
    ]);
  });

  it('a missing field names the output fields that were found', () => {
    const s = Signature.parse('q -> a, b');
    const x = new XMLAdapter();
    expect(() => x.parse(s, '<b>1</b><other>2</other>')).toThrow(/no `<a>` element \(expected a, b; got b\)/);
    expect(() => x.parse(s, '<other>2</other>')).toThrow(/got none\)/);
  });

  it('an incomplete demo and the request', () => {
    const s = Signature.parse('q, ctx -> a, b');
    const msgs = new XMLAdapter().format(s, [{ q: '1', a: 'x' }], { q: '2', ctx: 'c' });
    expect(msgs.slice(1).map((m) => m.content)).toEqual([
      'This is an example of the task, though some input or output fields are not supplied.\n\n<q>\n1\n</q>',
      '<a>\nx\n</a>\n\n<b>\nNot supplied for this particular example. \n</b>',
      '<q>\n2\n</q>\n\n<ctx>\nc\n</ctx>\n\nRespond with the corresponding output fields wrapped in XML tags `<a>`, then `<b>`.',
    ]);
  });
});

describe('TwoStepAdapter', () => {
  it('the main prompt shows inputs and demo outputs present as `name: value`, nothing for absent ones', () => {
    const s = Signature.parse('q, ctx -> a, b');
    const t = new TwoStepAdapter({ extractionLM: new DummyLM([]) });
    const msgs = t.format(s, [{ q: 'Q', ctx: null, a: 'A', b: undefined }, new Example({ q: 'Q2', ctx: 'C2', a: 1, b: true })], { q: 'x', ctx: ['l'] });
    expect(msgs.slice(1).map((m) => m.content)).toEqual([
      'This is an example of the task, though some input or output fields are not supplied.\n\nq: Q\n\nctx: None',
      'a: A',
      'q: Q2\n\nctx: C2',
      'a: 1\n\nb: True',
      'q: x\n\nctx: ["l"]',
    ]);
  });

  it('an input given as undefined is left out of the main prompt', () => {
    const t = new TwoStepAdapter({ extractionLM: new DummyLM([]) });
    expect(t.format(Signature.parse('q, ctx -> a'), [], { q: 'x', ctx: undefined }).at(-1)!.content).toBe('q: x');
  });

  it('the extraction signature is `text -> outputs` with DSPy instructions, built once per signature', () => {
    const t = new TwoStepAdapter({ extractionLM: new DummyLM([]) });
    const s = Signature.parse('q -> a, n: int');
    const e = t.extractorSignature(s);
    expect(t.extractorSignature(s)).toBe(e);
    expect(e.toString()).toBe('text -> a, n: int');
    expect(e.instructions).toBe(
      'The input is a text that should contain all the necessary information to produce the fields `a`, `n`. ' +
        ' '.repeat(12) +
        'Your job is to extract the fields from the text verbatim. Extract precisely the appropriate value (content) for each field.',
    );
  });

  it('extraction uses its own config (copied), plus the call signal; an abort is not a parse error', async () => {
    const config = { temperature: 0.3 };
    const extractor = new DummyLM([{ a: 'x' }]);
    const t = new TwoStepAdapter({ extractionLM: extractor, extractionConfig: config });
    config.temperature = 1;
    expect(t.extractionConfig).toEqual({ temperature: 0.3 });
    expect(t.extractionAdapter).toBeInstanceOf(ChatAdapter);
    const signal = new AbortController().signal;
    await t.parse(Signature.parse('q -> a'), 'text', signal);
    expect(extractor.history[0]!.options).toMatchObject({ temperature: 0.3, signal });
    await expect(new TwoStepAdapter({ extractionLM: new DummyLM([{ a: 'y' }]) }).parse(Signature.parse('q -> a'), 't')).resolves.toEqual({ a: 'y' });

    const abort = Object.assign(new Error('stopped'), { name: 'AbortError' });
    const aborting = new TwoStepAdapter({ extractionLM: { provider: 'p', model: 'm', generate: async () => Promise.reject(abort) } });
    await expect(aborting.parse(Signature.parse('q -> a'), 't')).rejects.toBe(abort);
    const failing = new TwoStepAdapter({ extractionLM: { provider: 'p', model: 'm', generate: async () => Promise.reject(new Error('down')) } });
    const err = await failing.parse(Signature.parse('q -> a'), 't').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdapterParseError);
    expect(err).toMatchObject({ adapter: 'two_step', raw: 't', field: undefined });
    const missing = new TwoStepAdapter({ extractionLM: new DummyLM(['{"b": 1}']), extractionAdapter: new JSONAdapter() });
    expect(await missing.parse(Signature.parse('q -> a'), 't').catch((e: unknown) => e)).toMatchObject({ field: 'a' });
    expect(() => new TwoStepAdapter(undefined as never)).toThrow(TypeError);
    expect(() => new TwoStepAdapter({ extractionLM: {} as never })).toThrow(TypeError);
  });

  it('without callbacks, a Predict call still formats, calls and extracts', async () => {
    const main = new DummyLM(['The answer is 4.']);
    const t = new TwoStepAdapter({ extractionLM: new DummyLM([{ a: '4' }]) });
    const r = await t.call(main, { maxTokens: 5 }, Signature.parse('q -> a'), [], { q: '2+2' });
    expect(r).toMatchObject({ outputs: { a: '4' }, adapter: 'two_step' });
    expect(r.response.text).toBe('The answer is 4.');
    expect(main.history[0]!.options).toEqual({ maxTokens: 5 });
  });
});
