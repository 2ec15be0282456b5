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

function expectWellFormed(rs: StreamResponse[], field: string): void {
  expect(rs.length).toBeGreaterThan(0);
  expect(rs.filter((r) => r.isLastChunk)).toHaveLength(1);
  expect(rs.at(-1)!.isLastChunk).toBe(true);
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
  const text = '{\n  "reasoning": "He said \\"hi\\"\\nthen left \\\\ \\u00e9t\\u00e9",\n  "answer": 42,\n  "tags": ["a, b", {"x": [1, 2]}]\n}';

  it('decodes a string value (escapes never split), and gives other values as their JSON text', () => {
    for (const pieces of cuttings(text)) {
      const reasoning = listen('reasoning', 'json', pieces);
      expectWellFormed(reasoning, 'reasoning');
      expect(joined(reasoning)).toBe('He said "hi"\nthen left \\ été');
      expect(joined(listen('answer', 'json', pieces))).toBe('42');
      expect(joined(listen('tags', 'json', pieces))).toBe('["a, b", {"x": [1, 2]}]');
    }
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
