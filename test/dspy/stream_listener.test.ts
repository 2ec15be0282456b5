/**
 * StreamListener: however the LM's text is cut into pieces, the pieces of a field joined are
 * the field's value as the adapter parses it, and no adapter markup leaks into them.
 */
import { describe, expect, it } from 'vitest';
import { StreamListener, type StreamFormat, type StreamResponse } from '../../src/dspy/stream_listener.js';

/** Feed `pieces` to a fresh listener of `field`; the responses, finalize included. */
function listen(field: string, format: StreamFormat, pieces: readonly string[]): StreamResponse[] {
  const l = new StreamListener(field, { predictName: 'p' });
  expect(l.begin(format)).toBe(true);
  const out: StreamResponse[] = [];
  for (const p of pieces) {
    const r = l.receive(p);
    if (r) out.push(r);
  }
  const f = l.finalize();
  if (f) out.push(f);
  return out;
}

/** Every way of cutting: one character per piece, and seeded random cuts. */
function cuttings(text: string): string[][] {
  const out: string[][] = [[text], [...text]];
  let seed = 7;
  for (let k = 0; k < 20; k++) {
    const pieces: string[] = [];
    let i = 0;
    while (i < text.length) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const n = 1 + (seed % 6);
      pieces.push(text.slice(i, i + n));
      i += n;
    }
    out.push(pieces);
  }
  return out;
}

function joined(rs: StreamResponse[]): string {
  return rs.map((r) => r.chunk).join('');
}

/** One last piece, at the end; no empty piece before it; all naming the field. */
function expectWellFormed(rs: StreamResponse[], field: string): void {
  expect(rs.length).toBeGreaterThan(0);
  expect(rs.filter((r) => r.isLastChunk)).toHaveLength(1);
  expect(rs.at(-1)!.isLastChunk).toBe(true);
  for (const r of rs.slice(0, -1)) expect(r.chunk).not.toBe('');
  for (const r of rs) expect(r).toMatchObject({ predictName: 'p', signatureFieldName: field });
}

describe('StreamListener over ChatAdapter text', () => {
  const text =
    '[[ ## reasoning ## ]]\nParis is the capital [see note]; it is  big.\n\n[[ ## answer ## ]]\nParis, France\n\n[[ ## completed ## ]]\n';

  it('streams a field between its header and the next one, trimmed, however the text is cut', () => {
    for (const pieces of cuttings(text)) {
      const reasoning = listen('reasoning', 'chat', pieces);
      expectWellFormed(reasoning, 'reasoning');
      expect(joined(reasoning)).toBe('Paris is the capital [see note]; it is  big.');
      const answer = listen('answer', 'chat', pieces);
      expectWellFormed(answer, 'answer');
      expect(joined(answer)).toBe('Paris, France');
    }
  });

  it('hands text on as it comes, not all at the end', () => {
    const pieces = [...text];
    const rs = listen('reasoning', 'chat', pieces);
    expect(rs.length).toBeGreaterThan(10);
  });

  it('text that cannot be a marker is handed on at once; a possible marker start is held until it is decided', () => {
    const l = new StreamListener('answer');
    l.begin('chat');
    expect(l.receive('[[ ## answer ## ]]\nhello')).toMatchObject({ chunk: 'hello', isLastChunk: false });
    expect(l.receive(' [[ #')).toBeUndefined();
    expect(l.receive('x] and')).toMatchObject({ chunk: ' [[ #x] and', isLastChunk: false });
    const x = new StreamListener('answer');
    x.begin('xml');
    expect(x.receive('<answer>\nhello</ans')).toMatchObject({ chunk: 'hello', isLastChunk: false });
    expect(x.receive('wer>')).toMatchObject({ chunk: '', isLastChunk: true });
  });

  it('an empty field ends with an empty last piece and does not take the next field', () => {
    for (const pieces of cuttings('[[ ## reasoning ## ]]\n\n[[ ## answer ## ]]\nyes\n\n[[ ## completed ## ]]')) {
      expect(listen('reasoning', 'chat', pieces)).toEqual([{ predictName: 'p', signatureFieldName: 'reasoning', chunk: '', isLastChunk: true }]);
      expect(joined(listen('answer', 'chat', pieces))).toBe('yes');
    }
  });

  it('a field the LM never writes yields nothing; the last field of an unfinished answer ends at finalize', () => {
    expect(listen('missing', 'chat', [text])).toEqual([]);
    const rs = listen('answer', 'chat', ['[[ ## answer ## ]]\nPar', 'is  \n']);
    expect(joined(rs)).toBe('Paris');
    expect(rs.at(-1)!.isLastChunk).toBe(true);
  });

  it('a listener that is done ignores later calls unless reusable', () => {
    const once = new StreamListener('answer');
    once.begin('chat');
    expect(once.receive('[[ ## answer ## ]]\nA\n[[ ## completed ## ]]')).toMatchObject({ chunk: 'A', isLastChunk: true });
    expect(once.begin('chat')).toBe(false);
    const again = new StreamListener('answer', { allowReuse: true });
    again.begin('chat');
    again.receive('[[ ## answer ## ]]\nA\n[[ ## completed ## ]]');
    expect(again.begin('chat')).toBe(true);
    expect(again.receive('[[ ## answer ## ]]\nB\n[[ ## completed ## ]]')).toMatchObject({ chunk: 'B', isLastChunk: true });
  });
});

describe('StreamListener over JSON text', () => {
  const text =
    '{\n  "reasoning": "He said \\"hi\\"\\nthen left \\\\ \\u00e9t\\u00e9 \\\\\\"q",\n  "answer": 42,\n  "tags": ["a]\\"}, b", {"x": [1, 2]}],\n  "last": {"k": "v"}\n}';

  it('decodes a string value (escapes never split), and gives other values as their JSON text', () => {
    for (const pieces of cuttings(text)) {
      const reasoning = listen('reasoning', 'json', pieces);
      expectWellFormed(reasoning, 'reasoning');
      expect(joined(reasoning)).toBe('He said "hi"\nthen left \\ été \\"q');
      for (const [field, value] of [
        ['answer', '42'],
        ['tags', '["a]\\"}, b", {"x": [1, 2]}]'],
        ['last', '{"k": "v"}'],
      ] as const) {
        const rs = listen(field, 'json', pieces);
        expectWellFormed(rs, field);
        expect(joined(rs)).toBe(value);
      }
    }
  });

  it('a JSON answer cut off inside a value ends with what came', () => {
    expect(joined(listen('reasoning', 'json', ['{"reasoning": "half a sent', 'ence']))).toBe('half a sentence');
    expect(joined(listen('tags', 'json', ['{"tags": [1, ', '2']))).toBe('[1, 2');
  });
});

describe('StreamListener over XMLAdapter text', () => {
  it('streams between <field> and </field>', () => {
    const text = '<reasoning>\na < b and <i>c</i>\n</reasoning>\n<answer>\nyes\n</answer>';
    for (const pieces of cuttings(text)) {
      expect(joined(listen('reasoning', 'xml', pieces))).toBe('a < b and <i>c</i>');
      expect(joined(listen('answer', 'xml', pieces))).toBe('yes');
    }
  });
});

describe('a whole answer (cache hit, an LM that does not stream)', () => {
  it('a field already streamed, or missing from the outputs, is not replayed; a replayed one is done', () => {
    const l = new StreamListener('answer');
    l.begin('chat');
    l.receive('[[ ## answer ## ]]\nA\n[[ ## completed ## ]]');
    expect(l.replay('A')).toBeUndefined();
    const m = new StreamListener('answer');
    m.begin('chat');
    expect(m.replay(undefined)).toBeUndefined();
    expect(m.replay('B')).toMatchObject({ chunk: 'B', isLastChunk: true });
    expect(m.begin('chat')).toBe(false);
    expect(m.fresh().begin('chat')).toBe(true);
    expect(new StreamListener('answer', { allowReuse: true }).fresh().allowReuse).toBe(true);
  });

  it('replays the parsed value as one last piece', () => {
    const l = new StreamListener('n', { predictName: 'p' });
    l.begin('chat');
    expect(l.replay(3)).toEqual({ predictName: 'p', signatureFieldName: 'n', chunk: '3', isLastChunk: true });
    expect(l.cacheHit).toBe(true);
    const s = new StreamListener('s');
    s.begin('json');
    expect(s.replay(['a'])).toMatchObject({ predictName: 'self', chunk: '["a"]', isLastChunk: true });
  });
});
