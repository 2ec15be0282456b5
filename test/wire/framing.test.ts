import { describe, expect, it } from 'vitest';
import { createFrameDecoder, encodeFrame, type Framing } from '../../src/rpc/frame_decoder.js';

function collect(framing: Framing, max: number) {
  const out: Array<string | { oversize: number } | { malformed: string }> = [];
  const d = createFrameDecoder(framing, max, {
    frame: (b) => out.push(b.toString('utf8')),
    oversize: (n) => out.push({ oversize: n }),
    malformed: (r) => out.push({ malformed: r }),
  });
  return { d, out };
}

describe.each<Framing>(['packet4', 'content-length'])('%s decoder', (framing) => {
  const bodies = ['{"a":1}', '', 'é中😀', 'x'.repeat(70_000)];
  const stream = Buffer.concat(bodies.map((b) => encodeFrame(framing, b)));

  it('decodes frames whatever the chunking', () => {
    for (const size of [1, 3, 7, 4096, stream.length]) {
      const { d, out } = collect(framing, 1 << 20);
      for (let i = 0; i < stream.length; i += size) d.push(stream.subarray(i, i + size));
      expect(out).toEqual(bodies);
      expect(d.midFrame).toBe(false);
    }
  });

  it('skips an oversized frame across chunks and resumes at the next one', () => {
    const { d, out } = collect(framing, 1000);
    const s = Buffer.concat([encodeFrame(framing, 'y'.repeat(5000)), encodeFrame(framing, 'ok')]);
    for (let i = 0; i < s.length; i += 333) d.push(s.subarray(i, i + 333));
    expect(out).toEqual([{ oversize: 5000 }, 'ok']);
  });

  it('reports a truncated frame as midFrame', () => {
    const { d } = collect(framing, 1000);
    const f = encodeFrame(framing, 'abcdef');
    d.push(f.subarray(0, f.length - 2));
    expect(d.midFrame).toBe(true);
  });
});
