// DSPy behaviours that used to differ here (issue 15), each checked against DSPy's own rules.
import { describe, expect, it } from 'vitest';
import {
  ChainOfThought,
  ChatAdapter,
  EnumType,
  Example,
  LEGACY_REASONING_PREFIX,
  Predict,
  Prediction,
  Signature,
  withTrace,
  XMLAdapter,
} from '../../src/dspy/index.js';
import { DummyLM } from '../../src/dspy/dummy_lm.js';
import { loadProgram, saveProgram } from '../../src/optimizers/program_io.js';

const chat = new ChatAdapter({ fallback: false });
/** The chat adapter's parse of one output field's text. */
const parse = (sig: Signature, field: string, text: string) =>
  chat.parse(new Signature({ inputs: [], outputs: [sig.field(field)!] }), `[[ ## ${field} ## ]]\n${text}`)[field];
const systemOf = (sig: Signature) => chat.format(sig, [], {})[0]!.content;

describe('type annotations', () => {
  it('Optional[...] and X | None: None or the type; a str option keeps the text as is', () => {
    const sig = Signature.parse('a: Optional[str] -> n: Optional[int], s: str | None, m: int | None');
    expect(sig.outputFields.map((f) => f.type)).toEqual(['Union[int, NoneType]', 'Union[str, NoneType]', 'Union[int, NoneType]']);
    expect(sig.field('a')!.type).toBe('Union[str, NoneType]');
    expect(parse(sig, 'n', 'None')).toBeNull();
    expect(parse(sig, 'n', 'null')).toBeNull();
    expect(parse(sig, 'n', '5')).toBe(5);
    expect(() => parse(sig, 'n', 'five')).toThrow(/`n`/);
    expect(parse(sig, 's', 'None of them')).toBe('None of them');
    expect(systemOf(sig)).toContain('{n}        # note: the value you produce must adhere to the JSON schema: {"anyOf": [{"type": "integer"}, {"type": "null"}]}');
  });

  it('Union[...]: the option the value already is, else the first that accepts it', () => {
    const sig = Signature.parse('q -> v: Union[int, str], w: Union[str, int], f: Union[float, bool]');
    expect(parse(sig, 'v', '5')).toBe(5);
    expect(parse(sig, 'v', 'abc')).toBe('abc');
    expect(parse(sig, 'w', '7')).toBe(7);
    expect(parse(sig, 'f', 'true')).toBe(true);
    expect(sig.field('v')!.type).toBe('Union[int, str]');
  });

  it('Any: JSON when the text is JSON, else the text', () => {
    const sig = Signature.parse('q -> x: Any, d: dict[str, Any]');
    expect(parse(sig, 'x', '{"a": [1, 2]}')).toEqual({ a: [1, 2] });
    expect(parse(sig, 'x', 'hello world')).toBe('hello world');
    expect(parse(sig, 'd', '{"k": null}')).toEqual({ k: null });
    expect(systemOf(sig)).toContain('{x}        # note: the value you produce must adhere to the JSON schema: {}');
    expect(systemOf(sig)).toContain('{d}        # note: the value you produce must adhere to the JSON schema: {"type": "object", "additionalProperties": true}');
  });

  it('tuple[...]: fixed length and item types; tuple[X, ...] any length', () => {
    const sig = Signature.parse('q -> t: tuple[int, str], u: tuple[float, ...]');
    expect(sig.field('t')!.type).toBe('tuple[int, str]');
    expect(sig.field('u')!.type).toBe('tuple[float, Ellipsis]');
    expect(parse(sig, 't', '[1, "a"]')).toEqual([1, 'a']);
    expect(() => parse(sig, 't', '[1]')).toThrow(/2 items/);
    expect(() => parse(sig, 't', '["x", "a"]')).toThrow(/int/);
    expect(parse(sig, 'u', '[1.5, 2, 3]')).toEqual([1.5, 2, 3]);
    expect(systemOf(sig)).toContain('{"type": "array", "maxItems": 2, "minItems": 2, "prefixItems": [{"type": "integer"}, {"type": "string"}]}');
  });

  it('enums: by value, else by member name; shown as "must be one of"; kept through withState', () => {
    const Color = new EnumType('Color', { RED: 'red', GREEN: 'green' });
    const sig = Signature.parse('q -> color: Color', undefined, { types: { Color } });
    expect(sig.field('color')!.type).toBe('Color');
    expect(parse(sig, 'color', 'red')).toBe('red');
    expect(parse(sig, 'color', 'GREEN')).toBe('green');
    expect(parse(sig, 'color', 'Color.RED')).toBe('red');
    expect(() => parse(sig, 'color', 'blue')).toThrow(/one of red; green/);
    expect(systemOf(sig)).toContain('{color}        # note: the value you produce must be one of: red; green');
    const reloaded = sig.withState(sig.toJSON());
    expect(parse(reloaded, 'color', 'GREEN')).toBe('green');
  });

  it('datetime: ISO 8601 text becomes a Date; a Date input is shown in ISO form', () => {
    const sig = Signature.parse('when: datetime -> at: datetime');
    expect(parse(sig, 'at', '2024-05-01T10:00:00')).toEqual(new Date(Date.UTC(2024, 4, 1, 10)));
    expect(parse(sig, 'at', '2024-05-01T10:00:00+02:00')).toEqual(new Date(Date.UTC(2024, 4, 1, 8)));
    expect(() => parse(sig, 'at', 'next tuesday')).toThrow(/datetime/);
    expect(systemOf(sig)).toContain('{at}        # note: the value you produce must adhere to the JSON schema: {"type": "string", "format": "date-time"}');
    const user = chat.format(sig, [], { when: new Date(Date.UTC(2024, 0, 2)) }).at(-1)!.content;
    expect(user).toContain('[[ ## when ## ]]\n2024-01-02T00:00:00.000Z');
  });

  it('unknown annotations are still refused, naming the field', () => {
    expect(() => Signature.parse('q -> x: Frobnicate')).toThrow(/output field 1.*unknown type "Frobnicate"/);
  });
});

describe('Predict(..., n=2) and completions', () => {
  it('draws n samples with distinct rollout ids (temperature raised to 0.7), first sample as the fields', async () => {
    const lm = new DummyLM([{ answer: 'first' }, { answer: 'second' }]);
    const p = new Predict('question -> answer', { lm, n: 2 });
    const { result, trace } = await withTrace(() => p.call({ question: 'q' }));
    expect(result.get('answer')).toBe('first');
    expect(result.completions!.length).toBe(2);
    expect(result.completions!.get('answer')).toEqual(['first', 'second']);
    expect(result.completions!.at(1)).toBeInstanceOf(Prediction);
    expect(lm.history.map((h) => [h.options?.rolloutId, h.options?.temperature])).toEqual([
      [undefined, 0.7],
      [1, 0.7],
    ]);
    expect(trace).toHaveLength(1);
    const hot = new DummyLM([{ answer: 'a' }, { answer: 'b' }, { answer: 'c' }]);
    await new Predict('question -> answer', { lm: hot, n: 3, config: { temperature: 1, rolloutId: 10 } }).call({ question: 'q' });
    expect(hot.history.map((h) => [h.options?.rolloutId, h.options?.temperature])).toEqual([
      [10, 1],
      [11, 1],
      [12, 1],
    ]);
    expect(() => new Predict('q -> a', { n: 0 })).toThrow(/positive integer/);
    expect((await new Predict('q -> a', { lm: new DummyLM([{ a: 'x' }]) }).call({ q: '1' })).completions).toBeUndefined();
  });
});

describe('Example equality and toDict', () => {
  it('equality ignores key order and input keys, compares values deeply', () => {
    expect(new Example({ a: 1, b: [1, { c: 2 }] }).equals(new Example({ b: [1, { c: 2 }], a: 1 }))).toBe(true);
    expect(new Example({ a: 1, b: 2 }).withInputs('a').equals(new Example({ a: 1, b: 2 }))).toBe(true);
    expect(new Example({ a: 1, b: [1, { c: 2 }] }).equals(new Example({ a: 1, b: [1, { c: 3 }] }))).toBe(false);
    expect(new Example({ a: 1 }).equals(new Example({ a: 1, b: undefined }))).toBe(false);
    expect(new Example({ a: 1 }).equals({ a: 1 })).toBe(false);
    expect(Prediction.from({ a: 1 }).equals(new Example({ a: 1 }))).toBe(true);
  });

  it('toDict is recursive: nested Examples and Predictions become plain objects', () => {
    const nested = new Example({ inner: new Example({ x: 1 }), list: [Prediction.from({ y: 2 }), 3], obj: { deep: new Example({ z: [new Example({ w: 4 })] }) } });
    const d = nested.toDict();
    expect(d).toEqual({ inner: { x: 1 }, list: [{ y: 2 }, 3], obj: { deep: { z: [{ w: 4 }] } } });
    expect(d['inner']).not.toBeInstanceOf(Example);
    expect((d['obj'] as { deep: unknown }).deep).not.toBeInstanceOf(Example);
  });
});

describe("ChainOfThought's saved reasoning field", () => {
  it('saves as DSPy 3.2+ does (prefix "Reasoning:", description "${reasoning}") and loads a legacy state', () => {
    const cot = new ChainOfThought('question -> answer');
    const saved = saveProgram(cot) as unknown as Record<string, { signature: { fields: unknown[] } }>;
    expect(Object.keys(saved)).toEqual(['predict', 'metadata']);
    expect(saved['predict']!.signature.fields).toEqual([
      { prefix: 'Question:', description: '${question}' },
      { prefix: 'Reasoning:', description: '${reasoning}' },
      { prefix: 'Answer:', description: '${answer}' },
    ]);
    const legacy = JSON.parse(JSON.stringify(saved)) as typeof saved;
    (legacy['predict']!.signature.fields[1] as { prefix: string }).prefix = LEGACY_REASONING_PREFIX;
    const loaded = loadProgram(new ChainOfThought('question -> answer'), legacy);
    expect(loaded.signature.field('reasoning')!.prefix).toBe(LEGACY_REASONING_PREFIX);
  });

  it('the XML adapter asks for the reasoning field first', () => {
    const msgs = new XMLAdapter().format(new ChainOfThought('question -> answer').signature, [], { question: 'q' });
    expect(msgs.at(-1)!.content).toContain('wrapped in XML tags `<reasoning>`, then `<answer>`.');
  });
});
