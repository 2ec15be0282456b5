// The dry-run arithmetic MIPROv2 and GEPA share: what N calls cost on a priced LM, and the
// prompt-size proxy (the mean JSON size of the examples).
import { describe, expect, it } from 'vitest';
import { Example } from '../../src/dspy/index.js';
import { DummyLM } from '../../src/dspy/dummy_lm.js';
import { ManagedLM } from '../../src/lm/managed.js';
import { PriceTable } from '../../src/lm/prices.js';
import { estimatedCostUsd, meanExampleChars } from '../../src/optimizers/estimate.js';

const priced = (model: string) => new ManagedLM(Object.assign(DummyLM.followExamples(), { model }), { cache: false, prices: new PriceTable() });

describe('estimatedCostUsd', () => {
  it('prices N calls of the given tokens at the LM price table (claude-haiku-4-5: $1 in, $5 out per MTok)', () => {
    // 10 calls x (1000 in + 200 out) = 10,000 in ($0.01) + 2,000 out ($0.01)
    expect(estimatedCostUsd(priced('claude-haiku-4-5'), 10, 1000, 200)).toBeCloseTo(0.02, 10);
    expect(estimatedCostUsd(priced('claude-haiku-4-5'), 0, 1000, 200)).toBe(0);
  });

  it('is unknown without an LM, without a price table, or for a model the table does not price', () => {
    expect(estimatedCostUsd(undefined, 10, 1000, 200)).toBeUndefined();
    expect(estimatedCostUsd(DummyLM.followExamples(), 10, 1000, 200)).toBeUndefined();
    expect(estimatedCostUsd(priced('no-such-model'), 10, 1000, 200)).toBeUndefined();
  });
});

describe('meanExampleChars', () => {
  it('is the mean JSON length of the examples, 200 when there are none', () => {
    const a = new Example({ q: 'x' }); // {"q":"x"} = 9 chars
    const b = new Example({ q: 'xyz' }); // 11 chars
    expect(meanExampleChars([a, b])).toBe(10);
    expect(meanExampleChars([a])).toBe(9);
    expect(meanExampleChars([])).toBe(200);
  });
});
