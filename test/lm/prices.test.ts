import { describe, expect, it } from 'vitest';
import { PriceTable } from '../../src/lm/prices.js';
import { captureLogger } from './helpers.js';

describe('PriceTable', () => {
  it('prices per million tokens, matching dated model ids by longest prefix', () => {
    const t = new PriceTable({}, { logger: captureLogger().logger });
    expect(t.cost('claude-sonnet-4-5', { inputTokens: 1_000_000, outputTokens: 1_000_000 })).toBe(18);
    expect(t.cost('claude-sonnet-4-5-20250929', { inputTokens: 1_000_000, outputTokens: 0 })).toBe(3);
    // claude-opus-4-1 must not fall back to the claude-opus-4 row, nor 4-5 to 4.
    expect(t.lookup('claude-opus-4-1-20250805')).toEqual({ inputPerMTok: 15, outputPerMTok: 75 });
    expect(t.lookup('claude-opus-4-5-20251101')).toEqual({ inputPerMTok: 5, outputPerMTok: 25 });
    expect(t.cost('claude-haiku-4-5', { inputTokens: 2000, outputTokens: 1000 })).toBeCloseTo(0.007, 12);
  });

  it('is configurable, and an unknown model costs 0 with one warning', () => {
    const { logger, lines } = captureLogger();
    const t = new PriceTable({ 'my-model': { inputPerMTok: 2, outputPerMTok: 4 } }, { logger });
    expect(t.cost('my-model', { inputTokens: 500_000, outputTokens: 500_000 })).toBe(3);
    expect(t.cost('mystery', { inputTokens: 10, outputTokens: 10 })).toBe(0);
    expect(t.cost('mystery', { inputTokens: 10, outputTokens: 10 })).toBe(0);
    expect(lines.filter((l) => l.includes('no price for model'))).toHaveLength(1);
    expect(() => new PriceTable({ bad: { inputPerMTok: -1, outputPerMTok: 0 } })).toThrow();
  });
});

describe('prices from the environment', () => {
  it('merges ELEXIRION_PRICES over the defaults and refuses a malformed value', async () => {
    const { pricesFromEnv, PriceTable } = await import('../../src/lm/prices.js');
    const extra = pricesFromEnv({ ELEXIRION_PRICES: '{"local-llama": {"inputPerMTok": 0.1, "outputPerMTok": 0.2}}' });
    const table = new PriceTable(extra);
    expect(table.cost('local-llama', { inputTokens: 1_000_000, outputTokens: 1_000_000 })).toBeCloseTo(0.3);
    expect(table.lookup('claude-haiku-4-5')).toBeDefined();
    expect(() => pricesFromEnv({ ELEXIRION_PRICES: '{"m": {"inputPerMTok": -1, "outputPerMTok": 1}}' })).toThrow(/ELEXIRION_PRICES/);
    expect(() => pricesFromEnv({ ELEXIRION_PRICES: 'not json' })).toThrow(/not JSON/);
  });
});
