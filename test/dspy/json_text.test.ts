import { describe, expect, it } from 'vitest';
import { parseLenientJSON, pyJsonDumps } from '../../src/dspy/index.js';

describe('pyJsonDumps (how DSPy prompts show values)', () => {
  it("uses Python's separators, keeps non-ASCII, indents like json.dumps(indent=2)", () => {
    expect(pyJsonDumps({ a: [1, 'é', null, true], b: {} })).toBe('{"a": [1, "é", null, true], "b": {}}');
    expect(pyJsonDumps({ a: [1], b: 'x' }, 2)).toBe('{\n  "a": [\n    1\n  ],\n  "b": "x"\n}');
  });
});

describe('parseLenientJSON (what LMs actually write)', () => {
  it('reads fenced blocks, Python literals, single quotes, trailing commas, raw newlines, bare keys', () => {
    expect(parseLenientJSON('```json\n{"a": 1}\n```')).toEqual({ a: 1 });
    expect(parseLenientJSON("['x', 'y',]")).toEqual(['x', 'y']);
    expect(parseLenientJSON("{'q': 'say \"hi\"', 'ok': True, 'n': None}")).toEqual({ q: 'say "hi"', ok: true, n: null });
    expect(parseLenientJSON('{"text": "two\nlines"}')).toEqual({ text: 'two\nlines' });
    expect(parseLenientJSON('{answer: 42, }')).toEqual({ answer: 42 });
  });

  it('throws on text that is not JSON-ish', () => {
    expect(() => parseLenientJSON('forty two')).toThrow(SyntaxError);
    expect(() => parseLenientJSON("{'unterminated: 1}")).toThrow(SyntaxError);
  });
});
