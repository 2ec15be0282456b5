// Field types: the annotations a DSPy user writes, how they are shown to the LM, and how the
// LM's text is read back (DSPy's parse_value with pydantic's lax rules).
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { coerceValue, EnumType, jsonSchemaOf, parseTypeString, TypeCoercionError, typeName } from '../../src/dspy/index.js';
import { fieldTypePlaceholder, zodTypeName, type TypeSpec } from '../../src/dspy/field_types.js';

const t = (s: string, registry = {}) => parseTypeString(s, registry);
const name = (s: string, registry = {}) => typeName(t(s, registry));
/** Coerce the LM's text for a field of annotation `ann` (ChatAdapter: the value is raw text). */
const fromText = (ann: string, text: string, registry = {}) => coerceValue(t(ann, registry), text, true);
/** Coerce a value already read from JSON (JSONAdapter). */
const fromJson = (ann: string, value: unknown, registry = {}) => coerceValue(t(ann, registry), value, false);
const rejects = (fn: () => unknown, re?: RegExp) => {
  expect(fn).toThrow(TypeCoercionError);
  if (re) expect(fn).toThrow(re);
};

describe('type annotations: the spellings DSPy users write', () => {
  it('typing aliases and bare containers name the canonical type', () => {
    expect(name('List[int]')).toBe('list[int]');
    expect(name('Dict[str, int]')).toBe('dict[str, int]');
    expect(name('list')).toBe('list');
    expect(name('dict')).toBe('dict');
    expect(name('typing.Any')).toBe('Any');
    expect(name('NoneType')).toBe('NoneType');
    expect(name('None')).toBe('NoneType');
    expect(name('datetime.datetime')).toBe('datetime');
    expect(name('typing.Optional[int]')).toBe('Union[int, NoneType]');
    expect(name('typing.Union[int, str]')).toBe('Union[int, str]');
    expect(name('UnionType[int, str]')).toBe('Union[int, str]');
    expect(name('Tuple[int, str]')).toBe('tuple[int, str]');
    expect(name('typing.Tuple[int, Ellipsis]')).toBe('tuple[int, Ellipsis]');
    expect(name('tuple')).toBe('tuple[Any, Ellipsis]');
    expect(name("typing.Literal['a']")).toBe("Literal['a']");
    expect(name('  list [ int ]  ')).toBe('list[int]');
  });

  it('unions are flattened, duplicates dropped, a union of one type is that type', () => {
    expect(name('int | int')).toBe('int');
    expect(name('Union[int]')).toBe('int');
    expect(name('Optional[int] | str')).toBe('Union[int, NoneType, str]');
    expect(name('Union[int, Union[str, int]]')).toBe('Union[int, str]');
    expect(name('int | str | None')).toBe('Union[int, str, NoneType]');
    expect(t('int | None')).toEqual({ kind: 'union', options: [{ kind: 'int' }, { kind: 'none' }] });
  });

  it("Literal values: quoted either way, escapes, numbers, True/False, shown as Python's repr", () => {
    expect(t(`Literal["a", 'b', -1, 2.5, True, False]`)).toEqual({ kind: 'literal', values: ['a', 'b', -1, 2.5, true, false] });
    expect(t(String.raw`Literal['it\'s', "say \"hi\""]`)).toEqual({ kind: 'literal', values: ["it's", 'say "hi"'] });
    expect(name(`Literal["it's"]`)).toBe(`Literal["it's"]`);
    expect(name(String.raw`Literal['it\'s "x"']`)).toBe(String.raw`Literal['it\'s "x"']`);
    expect(name(`Literal['say "hi"']`)).toBe(`Literal['say "hi"']`);
    expect(name('Literal[1, True, False]')).toBe('Literal[1, True, False]');
  });

  it('tuple[...] is fixed-length; tuple[X, ...] takes exactly one item type', () => {
    expect(t('tuple[int, str]')).toEqual({ kind: 'tuple', items: [{ kind: 'int' }, { kind: 'str' }] });
    expect(t('tuple[int, ...]')).toEqual({ kind: 'tuple', items: [{ kind: 'int' }], variadic: true });
    expect(() => t('tuple[int, str, ...]')).toThrow(/exactly one item type/);
    expect(() => t('tuple[...]')).toThrow(/exactly one item type/);
  });

  it('refuses annotations DSPy would not accept, saying what is wrong', () => {
    for (const [bad, re] of [
      ['int[str]', /int takes no arguments/],
      ['str[int]', /str takes no arguments/],
      ['list[int, str]', /list takes one type argument/],
      ['dict[str]', /dict takes two type arguments/],
      ['dict[int, str]', /dict keys must be str/],
      ['Any[int]', /Any takes no arguments/],
      ['None[int]', /None takes no arguments/],
      ['datetime[int]', /datetime takes no arguments/],
      ['Optional', /Optional takes one type argument/],
      ['Optional[int, str]', /Optional takes one type argument/],
      ['Union', /Union needs type arguments/],
      ['Literal', /Literal needs values/],
      ['Literal[foo]', /expected a quoted string/],
      ['Literal[]', /expected a quoted string.*at "\]"/],
      ['int str', /unexpected "str" after type/],
      ['list[int', /expected "\]" at "<end>"/],
      ['', /expected a type name at "<end>"/],
      ['[int]', /expected a type name at "\[int\]"/],
    ] as const) {
      expect(() => t(bad), bad).toThrow(re);
    }
  });

  it('registered types: zod schemas and enums by name; unknown names list what is known', () => {
    const Person = z.object({ name: z.string() });
    const Color = new EnumType('Color', ['red', 'green']);
    expect(t('Person', { Person })).toEqual({ kind: 'zod', schema: Person, name: 'Person' });
    expect(t('Color', { Color })).toEqual({ kind: 'enum', name: 'Color', members: [['red', 'red'], ['green', 'green']] });
    expect(() => t('Person[int]', { Person })).toThrow(/structured type Person takes no arguments/);
    expect(() => t('Color[int]', { Color })).toThrow(/enum Color takes no arguments/);
    expect(() => t('Thing', { Person, Color })).toThrow(/known: str, .*datetime, Person, Color; pass structured types/);
    expect(() => t('Thing')).toThrow(/known: str, .*datetime; pass structured types/);
  });

  it('an enum needs members; a list of names makes each name its own value', () => {
    expect(() => new EnumType('Empty', [])).toThrow(/at least one member/);
    expect(() => new EnumType('Empty', {})).toThrow(/at least one member/);
    expect(new EnumType('Size', { S: 1, M: 2 }).values).toEqual([1, 2]);
    expect(new EnumType('Mood', ['happy']).members).toEqual([['happy', 'happy']]);
  });

  it("a zod type's display name is its meta title, else its id, else the fallback", () => {
    expect(zodTypeName(z.object({}).meta({ title: 'Person', id: 'person_v1' }))).toBe('Person');
    expect(zodTypeName(z.object({}).meta({ id: 'person_v2' }))).toBe('person_v2');
    expect(zodTypeName(z.object({}).meta({ title: '' }))).toBe('object');
    expect(zodTypeName(z.object({}), 'Thing')).toBe('Thing');
  });
});

describe('JSON schemas shown to the LM (pydantic TypeAdapter(...).json_schema())', () => {
  it('one per kind', () => {
    expect(jsonSchemaOf(t('list'))).toEqual({ items: {}, type: 'array' });
    expect(jsonSchemaOf(t('list[int]'))).toEqual({ items: { type: 'integer' }, type: 'array' });
    expect(jsonSchemaOf(t('dict'))).toEqual({ type: 'object' });
    expect(jsonSchemaOf(t('dict[str, float]'))).toEqual({ additionalProperties: { type: 'number' }, type: 'object' });
    expect(jsonSchemaOf(t('dict[str, Any]'))).toEqual({ additionalProperties: true, type: 'object' });
    expect(jsonSchemaOf(t('bool'))).toEqual({ type: 'boolean' });
    expect(jsonSchemaOf(t('str'))).toEqual({ type: 'string' });
    expect(jsonSchemaOf(t('None'))).toEqual({ type: 'null' });
    expect(jsonSchemaOf(t('tuple[str, ...]'))).toEqual({ items: { type: 'string' }, type: 'array' });
    expect(jsonSchemaOf(t("Literal['a', 'b']"))).toEqual({ enum: ['a', 'b'], type: 'string' });
    expect(jsonSchemaOf(t('Literal[1, 2]'))).toEqual({ enum: [1, 2], type: 'number' });
    expect(jsonSchemaOf(t('Literal[True]'))).toEqual({ enum: [true], type: 'boolean' });
    expect(jsonSchemaOf(t("Literal['a', 1]"))).toEqual({ enum: ['a', 1] });
    expect(jsonSchemaOf(t('Person', { Person: z.object({ name: z.string() }) }))).toEqual({
      type: 'object',
      properties: { name: { type: 'string' } },
      required: ['name'],
      additionalProperties: false,
    });
  });

  it('enums: string or integer type when all members agree, title always', () => {
    const e = (members: Record<string, string | number>) => jsonSchemaOf({ kind: 'enum', name: 'E', members: Object.entries(members) });
    expect(e({ A: 'a' })).toEqual({ enum: ['a'], title: 'E', type: 'string' });
    expect(e({ A: 1, B: 2 })).toEqual({ enum: [1, 2], title: 'E', type: 'integer' });
    expect(e({ A: 1.5 })).toEqual({ enum: [1.5], title: 'E' });
    expect(e({ A: 'a', B: 1 })).toEqual({ enum: ['a', 1], title: 'E' });
  });

  it("the prompt's note puts `type` first and sorts the other keys (DSPy's move_type_to_front)", () => {
    const note = (ann: string, registry = {}) => fieldTypePlaceholder('x', t(ann, registry), 'output');
    expect(note('dict[str, list[int]]')).toBe(
      '{x}        # note: the value you produce must adhere to the JSON schema: {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "integer"}}}',
    );
    const Person = z.object({ name: z.string(), age: z.number() });
    expect(note('Person', { Person })).toBe(
      '{x}        # note: the value you produce must adhere to the JSON schema: {"type": "object", "additionalProperties": false, "properties": {"age": {"type": "number"}, "name": {"type": "string"}}, "required": ["name", "age"]}',
    );
    expect(note('Literal[1, 2]')).toBe('{x}        # note: the value you produce must exactly match (no extra characters) one of: 1; 2');
    expect(note('float')).toBe('{x}        # note: the value you produce must be a single float value');
    expect(note('str')).toBe('{x}');
    // Inputs carry no note, whatever their type.
    expect(fieldTypePlaceholder('x', t('int'), 'input')).toBe('{x}');
    expect(fieldTypePlaceholder('x', t('list[int]'), 'input')).toBe('{x}');
  });
});

describe('reading str outputs', () => {
  it('text stays as written; None becomes empty; objects become JSON; numbers their text', () => {
    const str: TypeSpec = { kind: 'str' };
    expect(coerceValue(str, '  keep  spaces ', true)).toBe('  keep  spaces ');
    expect(coerceValue(str, null)).toBe('');
    expect(coerceValue(str, undefined)).toBe('');
    expect(coerceValue(str, { a: [1, 'é'] })).toBe('{"a": [1, "é"]}');
    expect(coerceValue(str, 42)).toBe('42');
    expect(coerceValue(str, false)).toBe('false');
  });
});

describe('reading int, float and bool (pydantic lax mode)', () => {
  it('int: integral numbers and digit strings, with sign and spaces; never a fraction or words', () => {
    expect(fromText('int', ' 42 ')).toBe(42);
    expect(fromJson('int', '-7')).toBe(-7);
    expect(fromJson('int', ' +3 ')).toBe(3);
    expect(fromJson('int', 5)).toBe(5);
    rejects(() => fromJson('int', '5.5'), /expected an int, got "5.5"/);
    rejects(() => fromJson('int', 5.5));
    rejects(() => fromJson('int', '5 apples'));
    rejects(() => fromJson('int', 'x5'));
    rejects(() => fromJson('int', true));
    rejects(() => fromText('int', 'forty'));
  });

  it('float: numbers and numeric strings (exponent, leading dot); never words', () => {
    expect(fromText('float', '2.5')).toBe(2.5);
    expect(fromJson('float', ' .5 ')).toBe(0.5);
    expect(fromJson('float', '1e3')).toBe(1000);
    expect(fromJson('float', '-2.5E-1')).toBe(-0.25);
    expect(fromJson('float', '3.')).toBe(3);
    expect(fromJson('float', '+4')).toBe(4);
    expect(fromJson('float', 7)).toBe(7);
    rejects(() => fromJson('float', 'fast'), /expected a float/);
    rejects(() => fromJson('float', '1.2.3'));
    rejects(() => fromJson('float', 'e5'));
    rejects(() => fromJson('float', '1e'));
    rejects(() => fromJson('float', '2.5 meters'));
    rejects(() => fromJson('float', 'about 2.5'));
    rejects(() => fromJson('float', null));
  });

  it("bool: True/False and pydantic's words and 0/1, any case", () => {
    for (const w of ['true', 'T', 'yes', 'Y', 'on', '1', ' TRUE ']) expect(fromJson('bool', w), w).toBe(true);
    for (const w of ['false', 'f', 'NO', 'n', 'Off', '0']) expect(fromJson('bool', w), w).toBe(false);
    expect(fromText('bool', 'True')).toBe(true);
    expect(fromText('bool', 'False')).toBe(false);
    expect(fromJson('bool', 1)).toBe(true);
    expect(fromJson('bool', 0)).toBe(false);
    rejects(() => fromJson('bool', 2), /expected a bool/);
    rejects(() => fromJson('bool', 'maybe'));
    rejects(() => fromJson('bool', 'yess'));
    rejects(() => fromJson('bool', null));
  });
});

describe('reading containers', () => {
  it('lists and dicts from JSON text (even from a JSON adapter value), items checked with their path', () => {
    expect(fromJson('list[int]', '[1, 2]')).toEqual([1, 2]);
    expect(fromJson('dict[str, int]', "{'a': 1}")).toEqual({ a: 1 });
    expect(fromJson('list', [1, 'x'])).toEqual([1, 'x']);
    expect(fromJson('dict', { a: [1] })).toEqual({ a: [1] });
    rejects(() => fromJson('list[int]', [1, 'x']), /expected an int at \[1\], got "x"/);
    rejects(() => fromJson('dict[str, int]', { a: 1, b: 'x' }), /at \["b"\]/);
    rejects(() => fromJson('list[list[int]]', [[1], [2, 'x']]), /at \[1\]\[1\]/);
    rejects(() => fromJson('list', 'not a list'), /expected a list, got "not a list"/);
    rejects(() => fromJson('dict', [1]), /expected a dict/);
    rejects(() => fromJson('dict', null), /expected a dict/);
    rejects(() => fromJson('dict', 'text'), /expected a dict/);
  });

  it('tuples: fixed length with item types, or variadic', () => {
    expect(fromJson('tuple[int, str]', '[1, "a"]')).toEqual([1, 'a']);
    expect(fromJson('tuple[int, ...]', [1, '2'])).toEqual([1, 2]);
    rejects(() => fromJson('tuple[int, ...]', [1, 'x']), /at \[1\]/);
    rejects(() => fromJson('tuple[int, str]', [1, 2]), /at \[1\]/);
    rejects(() => fromJson('tuple[int, str]', [1, 'a', 'b']), /2 items.*got 3/);
    rejects(() => fromJson('tuple[int]', { a: 1 }), /expected a tuple/);
  });

  it('None: only null (or nothing)', () => {
    expect(fromJson('None', null)).toBeNull();
    expect(fromJson('None', undefined)).toBeNull();
    expect(fromText('None', 'null')).toBeNull();
    rejects(() => fromJson('None', 0), /expected None/);
    rejects(() => fromJson('None', ''), /expected None/);
  });

  it('Any: JSON values pass through; non-JSON text is kept, trimmed', () => {
    expect(fromText('Any', ' plain words ')).toBe('plain words');
    expect(fromJson('Any', 'plain')).toBe('plain');
    expect(fromJson('Any', [1])).toEqual([1]);
  });

  it('a zod type validates the value (plain text is tried as is when it is not JSON)', () => {
    const Slug = z.string().regex(/^[a-z-]+$/);
    const Person = z.object({ name: z.string() });
    expect(fromJson('Slug', ' a-slug ', { Slug })).toBe('a-slug');
    expect(fromJson('Person', '{"name": "Ada"}', { Person })).toEqual({ name: 'Ada' });
    rejects(() => fromJson('Person', { name: 1 }, { Person }), /does not match Person/);
  });
});

describe('reading Literal and enum outputs', () => {
  it("Literal: exact, else with Literal[...] / str[...] and quotes stripped (DSPy's parse_value)", () => {
    const lit = "Literal['pos', 'neg']";
    expect(fromJson(lit, 'pos')).toBe('pos');
    expect(fromJson(lit, " 'neg' ")).toBe('neg');
    expect(fromJson(lit, '"neg"')).toBe('neg');
    expect(fromJson(lit, "Literal['neg']")).toBe('neg');
    expect(fromJson(lit, "str['neg']")).toBe('neg');
    rejects(() => fromJson(lit, "Literal['neg'"), /one of pos; neg/);
    rejects(() => fromJson(lit, "'neg"));
    rejects(() => fromJson(lit, "neg'"));
    rejects(() => fromJson(lit, '"'));
    rejects(() => fromJson(lit, "'neg\""));
    rejects(() => fromJson(lit, 'NEG'));
    rejects(() => fromJson(lit, 1));
    expect(fromJson('Literal[1, 2]', '2')).toBe(2);
    expect(fromJson('Literal[1, 2]', 1)).toBe(1);
    expect(fromJson('Literal[True, 3]', 'True')).toBe(true);
    expect(fromJson('Literal[False]', 'False')).toBe(false);
    expect(fromJson('Literal[False]', 'false')).toBe(false);
    rejects(() => fromJson('Literal[True]', 'False'));
    // A Literal inside a container goes through the same rules.
    expect(fromJson("list[Literal['a', 'b']]", "['a', 'b']")).toEqual(['a', 'b']);
  });

  it('enum: by value, else by member name or Enum.NAME; the value is returned', () => {
    const Size = new EnumType('Size', { SMALL: 's', LARGE: 'l', NUM: 3 });
    const reg = { Size };
    expect(fromJson('Size', 's', reg)).toBe('s');
    expect(fromJson('Size', ' "l" ', reg)).toBe('l');
    expect(fromJson('Size', 'LARGE', reg)).toBe('l');
    expect(fromJson('Size', 'Size.SMALL', reg)).toBe('s');
    expect(fromJson('Size', 3, reg)).toBe(3);
    expect(fromJson('Size', '3', reg)).toBe(3);
    expect(fromJson('list[Size]', '["s", "LARGE"]', reg)).toEqual(['s', 'l']);
    rejects(() => fromJson('Size', 'Other.SMALL', reg), /one of s; l; 3 \(enum Size\)/);
    rejects(() => fromJson('Size', 'small', reg));
    rejects(() => fromJson('Size', "'s", reg));
    rejects(() => fromJson('Size', null, reg));
  });
});

describe('reading datetimes (pydantic: ISO 8601 or epoch seconds; no offset means UTC)', () => {
  it('accepts ISO dates and times, with T or a space, with or without offset', () => {
    expect(fromText('datetime', ' 2024-05-01T10:00:00 ')).toEqual(new Date(Date.UTC(2024, 4, 1, 10)));
    expect(fromJson('datetime', '2024-05-01 10:00')).toEqual(new Date(Date.UTC(2024, 4, 1, 10)));
    expect(fromJson('datetime', '2024-05-01T10:00:00.5Z')).toEqual(new Date(Date.UTC(2024, 4, 1, 10, 0, 0, 500)));
    expect(fromJson('datetime', '2024-05-01T10:00:00-0130')).toEqual(new Date(Date.UTC(2024, 4, 1, 11, 30)));
    expect(fromJson('datetime', '2024-05-01')).toEqual(new Date(Date.UTC(2024, 4, 1)));
    expect(fromJson('datetime', 86400)).toEqual(new Date(Date.UTC(1970, 0, 2)));
    const d = new Date(Date.UTC(2020, 0, 1));
    expect(fromJson('datetime', d)).toBe(d);
  });

  it('refuses other text, invalid dates and non-finite numbers', () => {
    rejects(() => fromJson('datetime', 'tomorrow'), /expected a datetime/);
    rejects(() => fromJson('datetime', '2024-13-45'));
    rejects(() => fromJson('datetime', 'on 2024-05-01'));
    rejects(() => fromJson('datetime', '2024-05-01 at noon'));
    rejects(() => fromJson('datetime', Number.NaN));
    rejects(() => fromJson('datetime', Number.POSITIVE_INFINITY));
    rejects(() => fromJson('datetime', new Date(Number.NaN)));
  });
});

describe('reading unions', () => {
  it('Optional[str]: the text as written, even "None"-like; null is None', () => {
    expect(fromText('Optional[str]', ' [1, 2] ')).toBe(' [1, 2] ');
    expect(fromJson('Optional[str]', null)).toBeNull();
  });

  it('Union[str, int] without None: an option the value already is wins, else the first that fits', () => {
    expect(fromText('Union[str, int]', '7')).toBe(7);
    expect(fromText('Union[str, int]', 'seven')).toBe('seven');
    expect(fromJson('Union[int, str]', 'x')).toBe('x');
    expect(fromJson('Union[int, float]', 2.5)).toBe(2.5);
    expect(fromJson('Union[float, int]', 2)).toBe(2);
    expect(fromJson('Union[int, bool]', true)).toBe(true);
    expect(fromJson('Union[bool, int]', 1)).toBe(1);
    expect(fromJson('Union[bool, list[int]]', [1])).toEqual([1]);
    expect(fromJson('Union[int, dict]', { a: 1 })).toEqual({ a: 1 });
    expect(fromJson('Union[dict, list]', [1])).toEqual([1]);
    expect(fromJson('Union[int, tuple[int, int]]', [1, 2])).toEqual([1, 2]);
    expect(fromJson('Union[int, None]', null)).toBeNull();
    expect(fromJson('Union[str, datetime]', new Date(0))).toEqual(new Date(0));
  });

  it('a value that fits no option names every option tried', () => {
    rejects(() => fromJson('Union[int, bool]', 'x'), /fits none of Union\[int, bool\] \(int: expected an int.*; bool: expected a bool/);
    rejects(() => fromJson('list[Union[int, None]]', [1, 'x']), /value at \[1\] fits none/);
  });

  it('errors that are not about the type are not swallowed', () => {
    const Boom = z.string().transform(() => {
      throw new RangeError('boom');
    });
    expect(() => fromJson('Union[int, Boom]', 'x', { Boom })).toThrow(RangeError);
  });
});

describe('more reading rules', () => {
  it('a union with str keeps text that is already a string rather than coercing it', () => {
    expect(fromJson('Union[int, str]', '5')).toBe('5');
    expect(fromJson('Union[float, str]', '2.5')).toBe('2.5');
    expect(fromJson('Union[bool, str]', 'yes')).toBe('yes');
  });

  it('a lone quote character is not a quoted empty string', () => {
    rejects(() => fromJson("Literal['', 'x']", '"'));
    rejects(() => fromJson('E', "'", { E: new EnumType('E', { EMPTY: '', X: 'x' }) }));
    expect(fromJson("Literal['', 'x']", "''")).toBe('');
  });

  it('error messages show the value as JSON, long ones cut to 80 characters', () => {
    rejects(() => fromJson('int', { a: [1] }), /got \{"a": \[1\]\}$/);
    rejects(() => fromJson('int', 'x'.repeat(100)), new RegExp(`got "${'x'.repeat(76)}\\.\\.\\.$`));
    rejects(() => fromJson('int', 'x'.repeat(78)), new RegExp(`got "${'x'.repeat(78)}"$`));
    expect(new TypeCoercionError('m').name).toBe('TypeCoercionError');
  });

  it('enum members are frozen', () => {
    const e = new EnumType('E', { A: 'a' });
    expect(Object.isFrozen(e.members)).toBe(true);
    expect(Object.isFrozen(e.members[0])).toBe(true);
  });
});
