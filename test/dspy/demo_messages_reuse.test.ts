// A predictor sends the same demos on every call, so adapters reuse the demo messages they
// built (bench/dspy.bench.mjs). What a user relies on: the prompt is always the one the demos
// as they are now would give, whatever was edited in place between calls.
import { describe, expect, it } from 'vitest';
import { ChatAdapter, Example, JSONAdapter, Signature } from '../../src/dspy/index.js';

const sig = Signature.parse('question: str, context: list[str] -> answer: str');
const inputs = { question: 'q?', context: ['c'] };
const demo = (i: number) => new Example({ question: `q${i}`, context: [`c${i}`], answer: `a${i}` });

/** The prompt a fresh adapter builds (no reuse possible). */
const fresh = (adapter: () => ChatAdapter | JSONAdapter, demos: Example[] | Record<string, unknown>[]) => adapter().format(sig, demos, inputs);

for (const [name, make] of [['ChatAdapter', () => new ChatAdapter()], ['JSONAdapter', () => new JSONAdapter()]] as const) {
  describe(`${name}: demo messages reused across calls`, () => {
    it('gives the same prompt on a second call as on the first, and as a fresh adapter', () => {
      const a = make();
      const demos = [demo(0), demo(1)];
      const first = a.format(sig, demos, inputs);
      const second = a.format(sig, demos, inputs);
      expect(second).toEqual(first);
      expect(second).toEqual(fresh(make, demos));
      expect(second.length).toBe(1 + 2 * 2 + 1);
    });

    it('follows a list value edited in place between calls', () => {
      const a = make();
      const demos = [demo(0)];
      a.format(sig, demos, inputs);
      (demos[0]!.fields().context as string[]).push('added later');
      const after = a.format(sig, demos, inputs);
      expect(JSON.stringify(after)).toContain('added later');
      expect(after).toEqual(fresh(make, demos));
    });

    it('follows a list element replaced in place (same length)', () => {
      const a = make();
      const demos = [demo(0)];
      a.format(sig, demos, inputs);
      (demos[0]!.fields().context as string[])[0] = 'replaced';
      const after = a.format(sig, demos, inputs);
      expect(JSON.stringify(after)).toContain('replaced');
      expect(after).toEqual(fresh(make, demos));
    });

    it('follows an object inside a list edited in place (such demos are never reused)', () => {
      const s2 = Signature.parse('question: str, items: list -> answer: str');
      const a = make();
      const item: Record<string, unknown> = { k: 'before' };
      const demos = [new Example({ question: 'q', items: ['plain', item], answer: 'a' })];
      const req = { question: 'x', items: [] };
      a.format(s2, demos, req);
      item.k = 'after';
      const after = a.format(s2, demos, req);
      expect(JSON.stringify(after)).toContain('after');
      expect(after).toEqual(make().format(s2, demos, req));
    });

    it('follows a demo array edited in place, and a different array', () => {
      const a = make();
      const demos = [demo(0), demo(1)];
      a.format(sig, demos, inputs);
      demos[1] = demo(2);
      expect(a.format(sig, demos, inputs)).toEqual(fresh(make, demos));
      demos.pop();
      expect(a.format(sig, demos, inputs)).toEqual(fresh(make, demos));
      const other = [demo(3)];
      expect(a.format(sig, other, inputs)).toEqual(fresh(make, other));
    });

    it('follows plain-record demos edited in place (they are never reused)', () => {
      const a = make();
      const demos: Record<string, unknown>[] = [{ question: 'q0', context: ['c0'], answer: 'a0' }];
      a.format(sig, demos, inputs);
      demos[0]!.answer = 'changed';
      const after = a.format(sig, demos, inputs);
      expect(JSON.stringify(after)).toContain('changed');
      expect(after).toEqual(fresh(make, demos));
    });

    it('follows a nested object edited in place (such demos are never reused)', () => {
      const s2 = Signature.parse('question: str, meta: dict -> answer: str');
      const a = make();
      const meta: Record<string, unknown> = { k: 1 };
      const demos = [new Example({ question: 'q', meta, answer: 'a' })];
      a.format(s2, demos, { question: 'x', meta: {} });
      meta.k = 2;
      expect(JSON.stringify(a.format(s2, demos, { question: 'x', meta: {} }))).toContain('2');
      expect(a.format(s2, demos, { question: 'x', meta: {} })).toEqual(make().format(s2, demos, { question: 'x', meta: {} }));
    });

    it('hands out fresh message objects: editing one prompt does not change the next', () => {
      const a = make();
      const demos = [demo(0)];
      const first = a.format(sig, demos, inputs);
      first[1]!.content = 'tampered';
      expect(a.format(sig, demos, inputs)[1]!.content).not.toBe('tampered');
    });
  });
}
