import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { inferPrefix, Signature, SignatureParseError } from '../../src/dspy/index.js';

describe('Signature.parse', () => {
  it('reads names and types, defaulting to str', () => {
    const s = Signature.parse('text: str, k: int -> entities: list[str], scores: dict[str, float], ok: bool');
    expect(s.inputFields.map((f) => [f.name, f.type])).toEqual([
      ['text', 'str'],
      ['k', 'int'],
    ]);
    expect(s.outputFields.map((f) => [f.name, f.type])).toEqual([
      ['entities', 'list[str]'],
      ['scores', 'dict[str, float]'],
      ['ok', 'bool'],
    ]);
    expect(Signature.parse('a, b -> c').fields.map((f) => f.type)).toEqual(['str', 'str', 'str']);
    expect(Signature.parse('-> c').inputFields).toEqual([]);
    expect(Signature.parse("x -> label: Literal['pos', 'neg']").outputFields[0]!.type).toBe("Literal['pos', 'neg']");
    expect(Signature.parse('x -> y: List[int]').outputFields[0]!.type).toBe('list[int]');
    expect(Signature.parse("x -> y: Literal['a->b', 'c, d']").outputFields[0]!.type).toBe("Literal['a->b', 'c, d']");
  });

  it("gives DSPy's default instructions, prefixes and descriptions", () => {
    const s = Signature.parse('a, b -> c');
    expect(s.instructions).toBe('Given the fields `a`, `b`, produce the fields `c`.');
    expect(s.hasDefaultInstructions).toBe(true);
    expect(Signature.parse('a -> c', '  ').instructions).toBe('Given the fields `a`, produce the fields `c`.');
    expect(Signature.parse('a -> c', 'Do it.').instructions).toBe('Do it.');
    expect(s.field('a')).toEqual({ name: 'a', type: 'str', prefix: 'A:' });
    expect(inferPrefix('question_text')).toBe('Question Text');
    expect(inferPrefix('camelCaseName')).toBe('Camel Case Name');
    expect(inferPrefix('URL')).toBe('URL');
    expect(inferPrefix('step2result')).toBe('Step 2 Result');
    const d = Signature.parse('q -> a', undefined, { descriptions: { q: 'the question' } });
    expect(d.field('q')!.description).toBe('the question');
  });

  it('names the part of the string that is wrong', () => {
    const bad = (spec: string, re: RegExp) => {
      expect(() => Signature.parse(spec)).toThrow(SignatureParseError);
      expect(() => Signature.parse(spec)).toThrow(re);
    };
    bad('a, b', /exactly one "->".*found 0/);
    bad('a -> b -> c', /found 2/);
    bad('a ->', /no output fields/);
    bad('a, , b -> c', /input field 2 is empty/);
    bad('1a -> b', /input field 1 \("1a"\): "1a" is not a valid field name/);
    bad('a -> b: lst[str]', /output field 1 \("b: lst\[str\]"\).*unknown type "lst"/);
    bad('a -> b: list[str', /expected "\]"/);
    bad('a -> b:', /missing type/);
    bad('a -> a', /`a` appears more than once/);
    bad('a -> b: dict[int, str]', /dict keys must be str/);
  });

  it('accepts structured types as zod schemas, by name or directly', () => {
    const Person = z.object({ name: z.string(), age: z.number().int() });
    const s = Signature.parse('text -> people: list[Person], boss: Person', undefined, { types: { Person } });
    expect(s.field('people')!.type).toBe('list[Person]');
    expect(s.field('people')!.schema).toBeDefined();
    const t = new Signature({ inputs: [{ name: 'text' }], outputs: [{ name: 'who', type: Person, typeName: 'Person' }] });
    expect(t.field('who')!.type).toBe('Person');
    expect(t.toString()).toBe('text -> who: Person');
  });
});

describe('Signature updates are immutable', () => {
  const base = Signature.parse('question -> answer: int');

  it('withInstructions / prepend / append / withUpdatedField / without', () => {
    const a = base.withInstructions('Be exact.');
    expect(a.instructions).toBe('Be exact.');
    expect(base.instructions).toBe('Given the fields `question`, produce the fields `answer`.');

    const p = base.prepend({ name: 'reasoning', prefix: "Reasoning: Let's think step by step in order to" });
    expect(p.outputNames).toEqual(['reasoning', 'answer']);
    expect(p.instructions).toBe(base.instructions); // DSPy keeps the original instructions
    expect(base.outputNames).toEqual(['answer']);
    expect(base.append({ name: 'context', role: 'input' }).inputNames).toEqual(['question', 'context']);

    const u = base.withUpdatedField('answer', { description: 'a number', prefix: 'Number:' });
    expect(u.field('answer')).toEqual({ name: 'answer', type: 'int', description: 'a number', prefix: 'Number:' });
    expect(base.field('answer')!.description).toBeUndefined();
    expect(base.withUpdatedField('answer', { type: 'float' }).field('answer')!.type).toBe('float');
    expect(() => base.withUpdatedField('nope', {})).toThrow(/no field `nope`/);
    expect(p.without('reasoning').outputNames).toEqual(['answer']);
    expect(Object.isFrozen(base)).toBe(true);
  });

  it('round-trips through toJSON/fromJSON and applies DSPy state by position', () => {
    const s = Signature.parse('q, ctx: list[str] -> a: int', 'Answer.', { descriptions: { a: 'the answer' } });
    const json = s.toJSON();
    expect(json).toEqual({
      instructions: 'Answer.',
      fields: [
        { name: 'q', role: 'input', type: 'str', prefix: 'Q:', description: '${q}' },
        { name: 'ctx', role: 'input', type: 'list[str]', prefix: 'Ctx:', description: '${ctx}' },
        { name: 'a', role: 'output', type: 'int', prefix: 'A:', description: 'the answer' },
      ],
    });
    const back = Signature.fromJSON(JSON.parse(JSON.stringify(json)));
    expect(back.toJSON()).toEqual(json);
    expect(back.field('q')!.description).toBeUndefined();

    const loaded = s.withState({ instructions: 'New.', fields: [{ prefix: 'Question:', description: 'q?' }, {}, { description: 'int' }] });
    expect(loaded.instructions).toBe('New.');
    expect(loaded.field('q')).toEqual({ name: 'q', type: 'str', prefix: 'Question:', description: 'q?' });
    expect(loaded.field('a')!.type).toBe('int');
    expect(() => s.withState({ instructions: 'x', fields: [{}] })).toThrow(/1 fields saved.*has 3/);
    expect(() => Signature.fromJSON({ instructions: 'x', fields: [{ name: 'a', role: 'both' as never, type: 'str', prefix: '', description: '' }] })).toThrow(
      /role "both"/,
    );
  });
});
