// Signatures as a DSPy user builds, edits, saves and reloads them: field prefixes, structured
// (zod) types inside containers, enums kept through edits, and the errors for bad input.
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { ChatAdapter, EnumType, fieldTypeSpec, inferPrefix, Signature, SignatureParseError, type SignatureJSON } from '../../src/dspy/index.js';

const chat = new ChatAdapter({ fallback: false });
/** What the chat adapter reads for output field `field` from the LM text `text`. */
const read = (sig: Signature, field: string, text: string) => chat.parse(new Signature({ inputs: [], outputs: [sig.field(field)!] }), `[[ ## ${field} ## ]]\n${text}`)[field];

describe("inferPrefix (DSPy's infer_prefix)", () => {
  it('splits camelCase, snake_case and digits; keeps acronyms', () => {
    expect(inferPrefix('HTTPResponse')).toBe('HTTP Response');
    expect(inferPrefix('myURLParser')).toBe('My URL Parser');
    expect(inferPrefix('answer2')).toBe('Answer 2');
    expect(inferPrefix('top10Items')).toBe('Top 10 Items');
    expect(inferPrefix('ALL_CAPS_name')).toBe('ALL CAPS Name');
    expect(inferPrefix('x')).toBe('X');
    expect(inferPrefix('mIxEd')).toBe('M Ix Ed');
    expect(inferPrefix('_private')).toBe(' Private');
  });
});

describe('fields built from FieldInit', () => {
  it('get the inferred prefix, the str type, and no placeholder description', () => {
    const s = new Signature({ inputs: [{ name: 'user_query' }], outputs: [{ name: 'a', type: 'int', description: '${a}' }] });
    expect(s.field('user_query')).toEqual({ name: 'user_query', type: 'str', prefix: 'User Query:' });
    expect(s.field('a')).toEqual({ name: 'a', type: 'int', prefix: 'A:' });
    expect(s.field('a')).not.toHaveProperty('description');
    expect(s.field('a')).not.toHaveProperty('schema');
    expect(Object.isFrozen(s.field('a'))).toBe(true);
    expect(Object.isFrozen(s.inputFields)).toBe(true);
    expect(Object.isFrozen(s.outputFields)).toBe(true);
  });

  it("fields of another signature are reused as they are; look-alike objects are rebuilt", () => {
    const s = Signature.parse('q -> a: int', undefined, { prefixes: { a: 'Number:' } });
    const t = new Signature({ inputs: s.inputFields, outputs: s.outputFields });
    expect(t.field('a')).toBe(s.field('a'));
    const lookAlike = { name: 'a', type: 'list[int]', prefix: 'A:' };
    const u = new Signature({ inputs: [], outputs: [lookAlike] });
    expect(u.field('a')).not.toBe(lookAlike);
    expect(read(u, 'a', '[1, 2]')).toEqual([1, 2]);
    expect(() => read(u, 'a', '["x"]')).toThrow(/int/);
  });

  it('refuses bad names and bad types, naming the field', () => {
    expect(() => new Signature({ inputs: [{ name: '1st' }], outputs: [{ name: 'a' }] })).toThrow(SignatureParseError);
    expect(() => new Signature({ inputs: [{ name: 'a b' }], outputs: [{ name: 'c' }] })).toThrow(/invalid field name "a b"/);
    expect(() => new Signature({ inputs: [], outputs: [{ name: 42 as never }] })).toThrow(/invalid field name 42/);
    expect(() => new Signature({ inputs: [], outputs: [{ name: 'a', type: 'lst[int]' }] })).toThrow(/field `a` has a bad type: unknown type "lst"/);
    expect(() => new Signature({ inputs: [{ name: 'a' }], outputs: [] })).toThrow(/at least one output field/);
    expect(() => new Signature({ inputs: [{ name: 'a' }], outputs: [{ name: 'a' }] })).toThrow(/`a` appears more than once/);
    expect(() => new Signature({ inputs: [{ name: 'a' }, { name: 'a' }], outputs: [{ name: 'b' }] })).toThrow(/`a` appears more than once/);
  });

  it('a zod type given directly is named by typeName, its meta title, else "object"', () => {
    const Anon = z.object({ n: z.number() });
    const Titled = z.object({ n: z.number() }).meta({ title: 'Counter' });
    const s = new Signature({
      inputs: [],
      outputs: [
        { name: 'a', type: Anon },
        { name: 'b', type: Titled },
        { name: 'c', type: Titled, typeName: 'Tally' },
      ],
    });
    expect(s.outputFields.map((f) => f.type)).toEqual(['object', 'Counter', 'Tally']);
    expect(s.field('a')!.schema).toBe(Anon);
    expect(read(s, 'c', '{"n": 3}')).toEqual({ n: 3 });
  });
});

describe('structured types inside containers validate every part', () => {
  const Person = z.object({ name: z.string() });
  const Color = new EnumType('Color', { RED: 'red', BLUE: 'blue' });
  const types = { Person, Color };
  const sig = (ann: string) => Signature.parse(`q -> x: ${ann}`, undefined, { types });
  const ok = (ann: string, text: string, want: unknown) => expect(read(sig(ann), 'x', text), `${ann} <- ${text}`).toEqual(want);
  const bad = (ann: string, text: string) => expect(() => read(sig(ann), 'x', text), `${ann} <- ${text}`).toThrow(/does not match/);

  it('only types naming a zod schema get one', () => {
    for (const ann of ['list', 'dict', 'list[int]', 'dict[str, int]', 'Union[int, str]', 'tuple[int, str]', 'Color', 'list[Color]']) {
      expect(sig(ann).field('x')!.schema, ann).toBeUndefined();
    }
    for (const ann of ['Person', 'list[Person]', 'dict[str, Person]', 'Optional[Person]', 'tuple[int, Person]', 'tuple[Person, ...]']) {
      expect(sig(ann).field('x')!.schema, ann).toBeDefined();
    }
  });

  it('lists, dicts, optionals and tuples of a structured type', () => {
    ok('list[Person]', '[{"name": "Ada"}]', [{ name: 'Ada' }]);
    bad('list[Person]', '[{"name": 1}]');
    ok('dict[str, Person]', '{"a": {"name": "Ada"}}', { a: { name: 'Ada' } });
    bad('dict[str, Person]', '{"a": {}}');
    ok('Optional[Person]', 'null', null);
    ok('Person | None', '{"name": "B"}', { name: 'B' });
    bad('Optional[Person]', '5');
    ok('tuple[Person, ...]', '[{"name": "A"}, {"name": "B"}]', [{ name: 'A' }, { name: 'B' }]);
    bad('tuple[Person, ...]', '[{"name": "A"}, 3]');
  });

  it('every simple type keeps its rules next to a structured one', () => {
    const ann = 'tuple[Person, str, int, float, bool, Any, None]';
    ok(ann, '[{"name": "A"}, "s", 1, 2.5, true, {"k": 1}, null]', [{ name: 'A' }, 's', 1, 2.5, true, { k: 1 }, null]);
    bad(ann, '[{"name": "A"}, 5, 1, 2.5, true, 0, null]');
    bad(ann, '[{"name": "A"}, "s", 1.5, 2.5, true, 0, null]');
    bad(ann, '[{"name": "A"}, "s", 1, "x", true, 0, null]');
    bad(ann, '[{"name": "A"}, "s", 1, 2.5, "yes", 0, null]');
    bad(ann, '[{"name": "A"}, "s", 1, 2.5, true, 0, 0]');
    bad(ann, '[{"name": "A"}, "s"]');
    ok("Union[Person, Literal['none', 'some']]", '"none"', 'none');
    bad("Union[Person, Literal['none', 'some']]", '"other"');
    ok('Union[Person, Color]', '"blue"', 'blue');
    bad('Union[Person, Color]', '"green"');
    ok('dict[str, Person] | list', '[1]', [1]);
    ok('Union[Person, list[Any]]', '["x", 1]', ['x', 1]);
    ok('Union[Person, dict]', '{"k": 1}', { k: 1 });
    const when = read(sig('Union[Person, datetime]'), 'x', '"2024-01-02T00:00:00Z"');
    expect(when).toEqual(new Date(Date.UTC(2024, 0, 2)));
  });
});

describe('editing a signature keeps what the user did not change', () => {
  const Color = new EnumType('Color', { RED: 'red', BLUE: 'blue' });
  const Person = z.object({ name: z.string() });

  it('enum fields (also inside containers) keep their enum through withUpdatedField and withState', () => {
    for (const ann of ['Color', 'list[Color]', 'dict[str, Color]', 'Optional[Color]', 'tuple[Color, int]']) {
      const s = Signature.parse(`q -> c: ${ann}`, undefined, { types: { Color } });
      const u = s.withUpdatedField('c', { description: 'the color' });
      expect(u.field('c')!.type, ann).toBe(s.field('c')!.type);
      const w = s.withState(s.toJSON());
      expect(w.field('c')!.type, ann).toBe(s.field('c')!.type);
    }
    const s = Signature.parse('q -> c: list[Color]', undefined, { types: { Color } });
    expect(read(s.withUpdatedField('c', { prefix: 'Colors:' }), 'c', '["RED"]')).toEqual(['red']);
  });

  it('withUpdatedField keeps a zod type and its name unless a new type is given', () => {
    const s = new Signature({ inputs: [{ name: 'q' }], outputs: [{ name: 'p', type: Person, typeName: 'Person' }] });
    const u = s.withUpdatedField('p', { description: 'who' });
    expect(u.field('p')).toMatchObject({ type: 'Person', description: 'who', schema: Person });
    expect(s.withUpdatedField('p', { typeName: 'Human' }).field('p')!.type).toBe('Human');
    const t = s.withUpdatedField('p', { type: 'int' });
    expect(t.field('p')!.type).toBe('int');
    expect(t.field('p')!.schema).toBeUndefined();
    expect(s.withUpdatedField('p', { type: 'list[Person]' }, { Person }).field('p')!.type).toBe('list[Person]');
  });

  it('withUpdatedField: an explicit undefined description removes it; others keep prefix and description', () => {
    const s = Signature.parse('q -> a', 'Do.', { descriptions: { a: 'the answer' }, prefixes: { a: 'Ans:' } });
    expect(s.withUpdatedField('a', { type: 'int' }).field('a')).toEqual({ name: 'a', type: 'int', prefix: 'Ans:', description: 'the answer' });
    expect(s.withUpdatedField('a', { description: undefined }).field('a')).toEqual({ name: 'a', type: 'str', prefix: 'Ans:' });
    expect(s.withUpdatedField('a', { prefix: 'A!' }).instructions).toBe('Do.');
    expect(s.withUpdatedField('q', { type: 'int' }).field('a')).toBe(s.field('a'));
  });

  it('prepend/append put the field where asked, among inputs or outputs', () => {
    const s = Signature.parse('a, b -> c, d', 'Keep me.');
    expect(s.prepend({ name: 'x', role: 'input' }).inputNames).toEqual(['x', 'a', 'b']);
    expect(s.prepend({ name: 'x', role: 'input' }).outputNames).toEqual(['c', 'd']);
    expect(s.append({ name: 'x', role: 'input' }).inputNames).toEqual(['a', 'b', 'x']);
    expect(s.append({ name: 'x' }).outputNames).toEqual(['c', 'd', 'x']);
    expect(s.append({ name: 'x' }).inputNames).toEqual(['a', 'b']);
    expect(s.prepend({ name: 'x' }).outputNames).toEqual(['x', 'c', 'd']);
    expect(s.prepend({ name: 'x', type: 'Color' }, { Color }).field('x')!.type).toBe('Color');
    expect(s.append({ name: 'x' }).instructions).toBe('Keep me.');
    expect(s.without('a').inputNames).toEqual(['b']);
    expect(s.without('a').instructions).toBe('Keep me.');
    expect(() => s.without('zz')).toThrow(/no field `zz` \(fields: a, b, c, d\)/);
  });

  it('field, roleOf, names and default instructions', () => {
    const s = Signature.parse('a, b -> c');
    expect(s.roleOf('a')).toBe('input');
    expect(s.roleOf('c')).toBe('output');
    expect(s.roleOf('zz')).toBeUndefined();
    expect(s.field('c')!.name).toBe('c');
    expect(s.field('zz')).toBeUndefined();
    expect(s.fields.map((f) => f.name)).toEqual(['a', 'b', 'c']);
    expect(s.withInstructions('Other.').hasDefaultInstructions).toBe(false);
    // Default instructions follow the fields: after an edit they name the old fields, so they are no longer "default".
    expect(s.append({ name: 'd' }).hasDefaultInstructions).toBe(false);
  });

  it('Signature.from: a string is parsed; a Signature is kept, or given new instructions', () => {
    const s = Signature.parse('a -> b');
    expect(Signature.from(s)).toBe(s);
    expect(Signature.from(s, 'New.').instructions).toBe('New.');
    expect(Signature.from('x -> y').toString()).toBe('x -> y');
    expect(Signature.from('x -> y', 'Go.').instructions).toBe('Go.');
  });
});

describe('the string form', () => {
  it('splits only at top-level commas and arrows (quotes and brackets protect them)', () => {
    const s = Signature.parse(String.raw`a: dict[str, int], b: tuple[int, str] -> c: Literal['x, y', "->", 'it\'s, ok'], d`);
    expect(s.inputNames).toEqual(['a', 'b']);
    expect(s.outputNames).toEqual(['c', 'd']);
    expect(s.toString()).toBe(`a: dict[str, int], b: tuple[int, str] -> c: Literal['x, y', '->', "it's, ok"], d`);
    expect(Signature.parse('a:int->b:float').toString()).toBe('a: int -> b: float');
  });

  it('errors say "Invalid signature" with the spec, also for errors found after parsing', () => {
    expect(() => Signature.parse('a -> a')).toThrow(/^Invalid signature "a -> a": field `a` appears more than once$/);
    try {
      Signature.parse('a -> b: int[str]');
    } catch (e) {
      expect(e).toBeInstanceOf(SignatureParseError);
      expect((e as SignatureParseError).spec).toBe('a -> b: int[str]');
    }
    expect(() => Signature.parse('a -> b, ')).toThrow(/output field 2 is empty/);
    expect(() => Signature.parse('a -> : int')).toThrow(/"" is not a valid field name/);
  });

  it('descriptions and prefixes by field name; types for structured annotations', () => {
    const s = Signature.parse('q -> a', undefined, { descriptions: { a: 'A.' }, prefixes: { q: 'Query:' } });
    expect(s.field('q')).toEqual({ name: 'q', type: 'str', prefix: 'Query:' });
    expect(s.field('a')).toEqual({ name: 'a', type: 'str', prefix: 'A:', description: 'A.' });
  });
});

describe('saving and loading (toJSON / fromJSON / withState)', () => {
  it('fromJSON defaults a missing type to str and infers a missing prefix; structured types come from options', () => {
    const json = {
      instructions: 'Do.',
      fields: [
        { name: 'q', role: 'input' },
        { name: 'p', role: 'output', type: 'Person', prefix: 7, description: 'who' },
      ],
    } as unknown as SignatureJSON;
    const Person = z.object({ name: z.string() });
    const s = Signature.fromJSON(json, { types: { Person } });
    expect(s.field('q')).toEqual({ name: 'q', type: 'str', prefix: 'Q:' });
    expect(s.field('p')).toMatchObject({ type: 'Person', prefix: 'P:', description: 'who' });
    expect(s.instructions).toBe('Do.');
    expect(() => Signature.fromJSON(json)).toThrow(/^Invalid signature JSON: .*unknown type "Person"/);
  });

  it('fromJSON refuses malformed state, naming the entry', () => {
    const bad = (json: unknown, re: RegExp) => expect(() => Signature.fromJSON(json as SignatureJSON)).toThrow(re);
    bad(null, /expected \{instructions: string, fields/);
    bad({ fields: [] }, /expected \{instructions/);
    bad({ instructions: 'x', fields: {} }, /expected \{instructions/);
    bad({ instructions: 'x', fields: [null] }, /fields\[0\] has no name/);
    bad({ instructions: 'x', fields: [{ name: 'a', role: 'output' }, { role: 'input' }] }, /fields\[1\] has no name/);
    bad({ instructions: 'x', fields: [{ name: 'a', role: 'input' }] }, /Invalid signature JSON: .*at least one output/);
    for (const e of [null, { fields: [] }]) {
      try {
        Signature.fromJSON(e as never);
      } catch (err) {
        expect(err).toBeInstanceOf(SignatureParseError);
      }
    }
  });

  it('withState checks the saved fields match, by count and (when saved) by name', () => {
    const s = Signature.parse('q -> a');
    expect(() => s.withState(null as never)).toThrow(/Invalid signature state/);
    expect(() => s.withState({ instructions: 1 } as never)).toThrow(/Invalid signature state/);
    expect(() => s.withState({ instructions: 'x', fields: 'no' } as never)).toThrow(/Invalid signature state/);
    expect(() => s.withState({ instructions: 'x', fields: [{}, {}, {}] })).toThrow(/3 fields saved, signature `q -> a` has 2/);
    expect(() => s.withState({ instructions: 'x', fields: [{ name: 'q' }, { name: 'b' }] as never })).toThrow(/field 2 is `b`, signature has `a`/);
    const ok = s.withState({ instructions: 'x', fields: [{ name: 'q' }, { name: 'a', prefix: 'Answer:' }] as never });
    expect(ok.field('a')!.prefix).toBe('Answer:');
    expect(ok.field('q')!.prefix).toBe('Q:');
  });

  it('withState keeps names, types, schemas and descriptions it is not given', () => {
    const Person = z.object({ name: z.string() });
    const s = new Signature({ inputs: [{ name: 'q', description: 'query' }], outputs: [{ name: 'p', type: Person, typeName: 'Person' }] });
    const w = s.withState({ instructions: 'Now.', fields: [{}, { description: 'who' }] });
    expect(w.field('q')).toEqual({ name: 'q', type: 'str', prefix: 'Q:', description: 'query' });
    expect(w.field('p')).toMatchObject({ type: 'Person', description: 'who', schema: Person });
    expect(w.inputNames).toEqual(['q']);
    expect(w.outputNames).toEqual(['p']);
    expect(w.instructions).toBe('Now.');
  });
});

describe('more of the string form and of editing', () => {
  it('quotes protect brackets inside Literal values; parentheses are kept together in errors', () => {
    const s = Signature.parse("q -> y: Literal['a]', 'b'], z: Literal['('], w");
    expect(s.outputNames).toEqual(['y', 'z', 'w']);
    expect(s.field('y')!.type).toBe("Literal['a]', 'b']");
    expect(() => Signature.parse('q -> y: (a, b)')).toThrow(/output field 1 \("y: \(a, b\)"\)/);
  });

  it('spaces around the arrow, the colon and an empty input side are allowed', () => {
    expect(Signature.parse('  -> c').inputNames).toEqual([]);
    expect(Signature.parse('a : int -> b').field('a')!.type).toBe('int');
    expect(new SignatureParseError('m', 's').name).toBe('SignatureParseError');
  });

  it('roleOf with several outputs', () => {
    const s = Signature.parse('a -> b, c');
    expect(s.roleOf('b')).toBe('output');
    expect(s.roleOf('c')).toBe('output');
  });

  it("fieldTypeSpec reads a field's type, also for a field object built by hand", () => {
    expect(fieldTypeSpec({ name: 'x', type: 'list[int]', prefix: 'X:' })).toEqual({ kind: 'list', item: { kind: 'int' } });
    const Person = z.object({ name: z.string() });
    expect(fieldTypeSpec({ name: 'p', type: 'Person', prefix: 'P:', schema: Person })).toEqual({ kind: 'zod', schema: Person, name: 'Person' });
  });

  it('bare list and dict fields survive edits', () => {
    const s = Signature.parse('q -> l: list, d: dict');
    expect(s.withUpdatedField('l', { description: 'items' }).field('l')!.type).toBe('list');
    expect(s.withUpdatedField('d', { description: 'map' }).field('d')!.type).toBe('dict');
    expect(s.withState(s.toJSON()).toJSON()).toEqual(s.toJSON());
  });

  it('withUpdatedField to a new zod type takes that type\'s name', () => {
    const Person = z.object({ name: z.string() }).meta({ title: 'Person' });
    const Place = z.object({ city: z.string() }).meta({ title: 'Place' });
    const s = new Signature({ inputs: [{ name: 'q' }], outputs: [{ name: 'x', type: Person }, { name: 'y' }] });
    expect(s.withUpdatedField('x', { type: Place }).field('x')!.type).toBe('Place');
    expect(s.withUpdatedField('y', { type: Place }).field('y')!.type).toBe('Place');
    expect(s.withUpdatedField('y', { type: Place }).field('y')!.schema).toBe(Place);
  });

  it('fromJSON applies saved prefixes; a description that is not text is ignored', () => {
    const s = Signature.fromJSON({
      instructions: 'x',
      fields: [
        { name: 'q', role: 'input', type: 'str', prefix: 'Query:', description: 5 as never },
        { name: 'a', role: 'output', type: 'str', prefix: 'Reply:', description: 'the reply' },
      ],
    });
    expect(s.field('q')).toEqual({ name: 'q', type: 'str', prefix: 'Query:' });
    expect(s.field('a')).toEqual({ name: 'a', type: 'str', prefix: 'Reply:', description: 'the reply' });
  });

  it('withState applies each saved field to the field at its position (several outputs)', () => {
    const s = Signature.parse('q -> a, b, c');
    const w = s.withState({ instructions: 'x', fields: [{}, { prefix: 'A!' }, { prefix: 'B!' }, { prefix: 'C!' }] });
    expect(w.outputFields.map((f) => f.prefix)).toEqual(['A!', 'B!', 'C!']);
    expect(() => s.withState({ instructions: 1, fields: [{}, {}, {}, {}] } as never)).toThrow(/Invalid signature state/);
  });
});
