// The values a DSPy user passes around: Examples and Predictions (with n-sample Completions),
// and the JSON text helpers that show values in prompts and read the LM's JSON back.
import { describe, expect, it } from 'vitest';
import { Completions, Example, parseLenientJSON, Prediction, pyJsonDumps, pyRepr } from '../../src/dspy/index.js';
import { extractJsonObject, normalizeJsonish, stripCodeFence, toJsonable } from '../../src/dspy/json_text.js';

describe('toJsonable: values shown in prompts', () => {
  it('reduces non-JSON values to JSON ones', () => {
    expect(toJsonable(undefined)).toBeNull();
    expect(toJsonable(10n)).toBe(10);
    expect(toJsonable(Symbol('s'))).toBe('Symbol(s)');
    expect(typeof toJsonable(() => 1)).toBe('string');
    expect(toJsonable(new Date(Date.UTC(2024, 0, 2)))).toBe('2024-01-02T00:00:00.000Z');
    expect(toJsonable(new Date(Number.NaN))).toBe('Invalid Date');
    expect(toJsonable(new Map<unknown, unknown>([[1, new Set([2, undefined])], ['k', { a: undefined, b: 1 }]]))).toEqual({ 1: [2, null], k: { b: 1 } });
    expect(toJsonable([new Example({ x: 1 }), Prediction.from({ y: [2] })])).toEqual([{ x: 1 }, { y: [2] }]);
    expect(toJsonable({ a: undefined, b: null, c: 'x' })).toEqual({ b: null, c: 'x' });
    expect(toJsonable('s')).toBe('s');
    expect(toJsonable(1.5)).toBe(1.5);
    expect(toJsonable(true)).toBe(true);
  });
});

describe("pyJsonDumps: Python's json.dumps", () => {
  it('non-finite numbers as Python writes them', () => {
    expect(pyJsonDumps([Infinity, -Infinity, Number.NaN, 0, -1.5])).toBe('[Infinity, -Infinity, NaN, 0, -1.5]');
  });

  it('indents nested containers level by level; empty ones stay inline', () => {
    expect(pyJsonDumps({ a: { b: [1, { c: [] }] }, d: {} }, 2)).toBe(
      '{\n  "a": {\n    "b": [\n      1,\n      {\n        "c": []\n      }\n    ]\n  },\n  "d": {}\n}',
    );
    expect(pyJsonDumps([], 4)).toBe('[]');
    expect(pyJsonDumps({ k: 'line\n"q"' }, 4)).toBe('{\n    "k": "line\\n\\"q\\""\n}');
    expect(pyJsonDumps({ a: 1, b: [true, null] })).toBe('{"a": 1, "b": [true, null]}');
    expect(pyJsonDumps('é')).toBe('"é"');
    expect(pyJsonDumps(undefined)).toBe('null');
  });
});

describe("pyRepr: Python's repr (how DSPy shows a tool's arguments)", () => {
  it('scalars', () => {
    expect(pyRepr(null)).toBe('None');
    expect(pyRepr(undefined)).toBe('None');
    expect(pyRepr(true)).toBe('True');
    expect(pyRepr(false)).toBe('False');
    expect(pyRepr(3)).toBe('3');
    expect(pyRepr(-0.5)).toBe('-0.5');
    expect(pyRepr(Infinity)).toBe('inf');
    expect(pyRepr(-Infinity)).toBe('-inf');
    expect(pyRepr(Number.NaN)).toBe('nan');
  });

  it("strings: single quotes unless the text has ' and no \"; escapes", () => {
    expect(pyRepr('plain')).toBe("'plain'");
    expect(pyRepr("it's")).toBe(`"it's"`);
    expect(pyRepr(`it's "x"`)).toBe(`'it\\'s "x"'`);
    expect(pyRepr('say "hi"')).toBe(`'say "hi"'`);
    expect(pyRepr('a\\b\nc\rd\te')).toBe("'a\\\\b\\nc\\rd\\te'");
    expect(pyRepr("it's\n")).toBe(`"it's\\n"`);
  });

  it('lists and dicts, nested', () => {
    expect(pyRepr({ query: 'x', k: [1, true, null], o: { "n'": 'y' } })).toBe(`{'query': 'x', 'k': [1, True, None], 'o': {"n'": 'y'}}`);
    expect(pyRepr([])).toBe('[]');
    expect(pyRepr({})).toBe('{}');
  });
});

describe('reading the JSON an LM writes', () => {
  it('stripCodeFence: the first fenced block, with or without a language tag; else the trimmed text', () => {
    expect(stripCodeFence('Here:\n```json\n{"a": 1}\n```\nand ```x```')).toBe('{"a": 1}');
    expect(stripCodeFence('```\n[1]\n```')).toBe('[1]');
    expect(stripCodeFence('```python  \r\n[2]\r\n```')).toBe('[2]');
    expect(stripCodeFence('```{"b": 2}```')).toBe('{"b": 2}');
    expect(stripCodeFence('```json-5\n{}\n```')).toBe('{}');
    expect(stripCodeFence('  no fence  ')).toBe('no fence');
    expect(stripCodeFence('``` unclosed')).toBe('``` unclosed');
  });

  it('extractJsonObject: the first balanced object, ignoring braces in strings', () => {
    expect(extractJsonObject('say {"a": {"b": "}"}, "c": "\\"{"} then {"d": 1}')).toBe('{"a": {"b": "}"}, "c": "\\"{"}');
    expect(extractJsonObject('no object')).toBeUndefined();
    expect(extractJsonObject('{"open": 1')).toBeUndefined();
    expect(extractJsonObject('} {"x": 1}')).toBe('{"x": 1}');
    expect(extractJsonObject('{}')).toBe('{}');
  });

  it('parseLenientJSON: strict JSON as is; JSON-ish text rewritten', () => {
    expect(parseLenientJSON(' {"a": "it\'s"} ')).toEqual({ a: "it's" });
    expect(parseLenientJSON("{'a': 'x\\'y', 'b': \"q'\"}")).toEqual({ a: "x'y", b: "q'" });
    expect(parseLenientJSON("{'tab': 'a\tb', 'cr': 'c\rd', 'esc': 'e\\nf', 'u': '\\u00e9'}")).toEqual({ tab: 'a\tb', cr: 'c\rd', esc: 'e\nf', u: 'é' });
    expect(parseLenientJSON('[1, 2 ,\n ]')).toEqual([1, 2]);
    expect(parseLenientJSON('{"a": [1,], }')).toEqual({ a: [1] });
    expect(parseLenientJSON('{"a": 1},')).toEqual({ a: 1 });
    expect(parseLenientJSON('{a_1 : true, b2: False, c: null, d: None, e: 1e3, f: false}')).toEqual({ a_1: true, b2: false, c: null, d: null, e: 1000, f: false });
    expect(parseLenientJSON('[True, None]')).toEqual([true, null]);
    expect(() => parseLenientJSON('[maybe]')).toThrow(SyntaxError);
    expect(() => parseLenientJSON("['trailing backslash\\")).toThrow(SyntaxError);
    expect(() => parseLenientJSON("'unterminated")).toThrow(/unterminated string/);
  });

  it('normalizeJsonish: what it rewrites, exactly', () => {
    expect(normalizeJsonish("{'k': 'v', x: None,}")).toBe('{"k": "v", "x": null}');
    expect(normalizeJsonish("['a\"b']")).toBe('["a\\"b"]');
    expect(normalizeJsonish('[a, "b",c]')).toBe('[a, "b",c]');
    expect(normalizeJsonish('[1,2, 3]')).toBe('[1,2, 3]');
  });
});

describe('Example', () => {
  it('is built from a record or another Example (keeping its input keys unless given new ones)', () => {
    const base = new Example({ q: 1, a: 2 }).withInputs('q');
    expect(new Example(base).inputKeys).toEqual(['q']);
    expect(new Example(base, ['a']).inputKeys).toEqual(['a']);
    expect(new Example(base).toDict()).toEqual({ q: 1, a: 2 });
    expect(new Example().size).toBe(0);
    expect(new Example({ a: 1 }).inputKeys).toBeUndefined();
    expect(Object.isFrozen(base.inputKeys)).toBe(true);
  });

  it('a field present with undefined is present: get returns it, not the fallback', () => {
    const e = new Example({ a: undefined, b: null });
    expect(e.has('a')).toBe(true);
    expect(e.get('a', 'fallback')).toBeUndefined();
    expect(e.get('b', 'fallback')).toBeNull();
    expect(e.get('c', 'fallback')).toBe('fallback');
    expect(e.has('c')).toBe(false);
    expect(e.has('toString')).toBe(false);
    expect(e.get('toString')).toBeUndefined();
  });

  it('keys, values, entries and size leave out dspy_* keys unless asked', () => {
    const e = new Example({ dspy_uuid: 'u', a: 1, b: 2, dspy_split: 'train' });
    expect(e.keys()).toEqual(['a', 'b']);
    expect(e.keys(true)).toEqual(['dspy_uuid', 'a', 'b', 'dspy_split']);
    expect(e.values()).toEqual([1, 2]);
    expect(e.values(true)).toEqual(['u', 1, 2, 'train']);
    expect(e.entries()).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
    expect(e.entries(true)).toHaveLength(4);
    expect(e.size).toBe(2);
    expect(e.toDict()).toEqual({ dspy_uuid: 'u', a: 1, b: 2, dspy_split: 'train' });
    expect(new Example({ xdspy_: 1 }).keys()).toEqual(['xdspy_']);
  });

  it('inputs() holds the input keys present; labels() the rest; both keep the input keys', () => {
    const e = new Example({ q: 'x', ctx: 'c', a: 'y' }).withInputs('q', 'missing');
    expect(e.inputs().toDict()).toEqual({ q: 'x' });
    expect(e.inputs().keys()).toEqual(['q']);
    expect(e.inputs().inputKeys).toEqual(['q', 'missing']);
    expect(e.labels().toDict()).toEqual({ ctx: 'c', a: 'y' });
    expect(e.labels().inputKeys).toEqual(['q', 'missing']);
    expect(() => new Example({ a: 1 }).labels()).toThrow(/withInputs/);
    const p = Prediction.from({ q: 1, a: 2 }).withInputs('q');
    expect(p.inputs()).toBeInstanceOf(Prediction);
    expect(p.labels()).toBeInstanceOf(Prediction);
    expect(p.without('a')).toBeInstanceOf(Prediction);
  });

  it('copy and without keep the input keys and leave the original alone', () => {
    const e = new Example({ q: 1, a: 2, b: 3 }).withInputs('q');
    const w = e.without('a', 'b');
    expect(w.toDict()).toEqual({ q: 1 });
    expect(w.inputKeys).toEqual(['q']);
    expect(e.toDict()).toEqual({ q: 1, a: 2, b: 3 });
    expect(e.copy().toDict()).toEqual(e.toDict());
    expect(e.withInputs('a').inputKeys).toEqual(['a']);
    expect(e.inputKeys).toEqual(['q']);
  });

  it('toDict keeps null and undefined values as they are', () => {
    expect(new Example({ a: null, b: undefined, c: [null] }).toDict()).toStrictEqual({ a: null, b: undefined, c: [null] });
  });

  it('toDict copies plain objects and arrays deeply, keeps class instances', () => {
    const when = new Date(0);
    const bare = Object.create(null) as Record<string, unknown>;
    bare['k'] = new Example({ z: 1 });
    const e = new Example({ list: [{ x: [1] }], when, bare });
    const d = e.toDict();
    expect(d['when']).toBe(when);
    expect(d['bare']).toEqual({ k: { z: 1 } });
    (d['list'] as Array<{ x: number[] }>)[0]!.x.push(2);
    expect(e.get<Array<{ x: number[] }>>('list')[0]!.x).toEqual([1]);
  });

  it('equals compares fields deeply (NaN equals NaN; Dates by time; Examples by fields)', () => {
    const eq = (a: unknown, b: unknown) => new Example({ v: a }).equals(new Example({ v: b }));
    expect(eq(Number.NaN, Number.NaN)).toBe(true);
    expect(eq(Number.NaN, 1)).toBe(false);
    expect(eq(1, Number.NaN)).toBe(false);
    expect(eq(1, {})).toBe(false);
    expect(eq({}, 1)).toBe(false);
    expect(eq('ab', { 0: 'a', 1: 'b' })).toBe(false);
    expect(eq([1], { 0: 1, length: 1 })).toBe(false);
    expect(eq({ 0: 1, length: 1 }, [1])).toBe(false);
    expect(eq({ a: undefined }, { b: undefined })).toBe(false);
    // An Example never equals a plain object, even one shaped like its insides.
    expect(eq(new Example({ x: 1 }), { data: { x: 1 }, inputKeys: undefined })).toBe(false);
    expect(eq({ data: { x: 1 }, inputKeys: undefined }, new Example({ x: 1 }))).toBe(false);
    expect(eq(1, 2)).toBe(false);
    expect(eq(1, '1')).toBe(false);
    expect(eq(null, {})).toBe(false);
    expect(eq({}, null)).toBe(false);
    expect(eq(null, null)).toBe(true);
    expect(eq(new Date(5), new Date(5))).toBe(true);
    expect(eq(new Date(5), new Date(6))).toBe(false);
    expect(eq(new Date(5), {})).toBe(false);
    expect(eq({}, new Date(5))).toBe(false);
    expect(eq([1, 2], [1, 2])).toBe(true);
    expect(eq([1, 2], [1, 2, 3])).toBe(false);
    expect(eq([1, 2], [2, 1])).toBe(false);
    expect(eq([1], { 0: 1 })).toBe(false);
    expect(eq({ 0: 1 }, [1])).toBe(false);
    expect(eq({ a: 1 }, { b: 1 })).toBe(false);
    expect(eq({ a: 1, b: 2 }, { a: 1 })).toBe(false);
    expect(eq({ a: { b: 1 } }, { a: { b: 2 } })).toBe(false);
    expect(eq(new Example({ x: 1 }), new Example({ x: 1 }))).toBe(true);
    expect(eq(new Example({ x: 1 }), new Example({ x: 2 }))).toBe(false);
    expect(eq(new Example({ x: 1 }), { x: 1 })).toBe(false);
    expect(eq({ x: 1 }, new Example({ x: 1 }))).toBe(false);
  });

  it('toString reads like DSPy: class name, fields, input keys', () => {
    expect(new Example({ a: 1 }).toString()).toBe('Example({"a":1}) (input_keys=None)');
    expect(new Example({ a: 1 }).withInputs('a').toString()).toBe('Example({"a":1}) (input_keys=["a"])');
    expect(Prediction.from({ b: 'x' }).toString()).toBe('Prediction({"b":"x"}) (input_keys=None)');
  });
});

describe('Prediction and Completions (Predict with n > 1)', () => {
  it('fromCompletions: the first sample as fields, all samples in order', () => {
    const p = Prediction.fromCompletions([{ a: 1 }, { a: 2 }, { a: 3 }]);
    expect(p.toDict()).toEqual({ a: 1 });
    expect(p.completions!.length).toBe(3);
    expect(p.completions!.get('a')).toEqual([1, 2, 3]);
    expect(p.completions!.at(-1)!.get('a')).toBe(3);
    expect(p.completions!.at(5)).toBeUndefined();
    expect([...p.completions!].map((x) => x.get('a'))).toEqual([1, 2, 3]);
    expect(Object.isFrozen(p.completions!.items)).toBe(true);
  });

  it('keeps Predictions given to it, wraps the rest; refuses none', () => {
    const first = Prediction.from({ a: 1 });
    const c = new Completions([first, new Example({ a: 2 }), { a: 3 }]);
    expect(c.at(0)).toBe(first);
    expect(c.at(1)).toBeInstanceOf(Prediction);
    expect(c.at(2)!.get('a')).toBe(3);
    expect(() => new Completions([])).toThrow(/at least one/);
    expect(() => Prediction.fromCompletions([])).toThrow(/at least one/);
  });
});
