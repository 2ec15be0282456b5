/**
 * USD per million tokens, by model. The table is configurable (createLM's `prices` option, or
 * `new PriceTable(overrides)`): the defaults below are Anthropic's list prices as we last knew
 * them and may be outdated; check https://www.anthropic.com/pricing before trusting a bill.
 * Models match by longest prefix, so dated ids (`claude-sonnet-4-5-20250929`) find their row.
 * An unknown model costs 0 and logs one warning per model per process (a sidecar that builds
 * an LM per request must not repeat it on every call).
 */
import type { Logger } from 'pino';
import * as z from 'zod';
import type { TokenUsage } from './types.js';
import { lmLogger } from './log.js';

export const ModelPriceSchema = z.object({
  inputPerMTok: z.number().nonnegative(),
  outputPerMTok: z.number().nonnegative(),
});
export type ModelPrice = z.infer<typeof ModelPriceSchema>;
export const PriceTableSchema = z.record(z.string().min(1), ModelPriceSchema);
export type PriceEntries = z.infer<typeof PriceTableSchema>;

export const DEFAULT_PRICES: Readonly<PriceEntries> = Object.freeze({
  // The 4.6+ rows are assumed equal to their predecessor's list price (none was published
  // where we looked); without a row a model costs $0 and USD budgets could not hold.
  'claude-opus-4-8': { inputPerMTok: 5, outputPerMTok: 25 },
  'claude-opus-4-7': { inputPerMTok: 5, outputPerMTok: 25 },
  'claude-opus-4-6': { inputPerMTok: 5, outputPerMTok: 25 },
  'claude-sonnet-4-6': { inputPerMTok: 3, outputPerMTok: 15 },
  'claude-opus-4-5': { inputPerMTok: 5, outputPerMTok: 25 },
  'claude-opus-4-1': { inputPerMTok: 15, outputPerMTok: 75 },
  'claude-opus-4': { inputPerMTok: 15, outputPerMTok: 75 },
  'claude-sonnet-4-5': { inputPerMTok: 3, outputPerMTok: 15 },
  'claude-sonnet-4': { inputPerMTok: 3, outputPerMTok: 15 },
  'claude-haiku-4-5': { inputPerMTok: 1, outputPerMTok: 5 },
  'claude-3-7-sonnet': { inputPerMTok: 3, outputPerMTok: 15 },
  'claude-3-5-sonnet': { inputPerMTok: 3, outputPerMTok: 15 },
  'claude-3-5-haiku': { inputPerMTok: 0.8, outputPerMTok: 4 },
  'claude-3-opus': { inputPerMTok: 15, outputPerMTok: 75 },
  'claude-3-haiku': { inputPerMTok: 0.25, outputPerMTok: 1.25 },
});

/**
 * Price overrides from the environment: `ELEXIRION_PRICES='{"my-model": {"inputPerMTok": 1,
 * "outputPerMTok": 2}}'`, merged over the defaults. A malformed value is an error, not ignored:
 * a silently dropped price would make a USD budget meaningless.
 */
export function pricesFromEnv(env: NodeJS.ProcessEnv = process.env): PriceEntries {
  const raw = env['ELEXIRION_PRICES']?.trim();
  if (!raw) return {};
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (e) {
    throw new Error(`ELEXIRION_PRICES is not JSON: ${(e as Error).message}`);
  }
  const r = PriceTableSchema.safeParse(json);
  if (!r.success) {
    throw new Error(`ELEXIRION_PRICES: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return r.data;
}

const warnedModels = new Set<string>();

export class PriceTable {
  private readonly entries: PriceEntries;
  private readonly logger: Logger;

  /** `overrides` are merged over the defaults unless `replaceDefaults` is set. */
  constructor(overrides: PriceEntries = {}, opts: { replaceDefaults?: boolean; logger?: Logger } = {}) {
    const parsed = PriceTableSchema.parse(overrides);
    this.entries = opts.replaceDefaults ? { ...parsed } : { ...DEFAULT_PRICES, ...parsed };
    this.logger = opts.logger ?? lmLogger();
  }

  lookup(model: string): ModelPrice | undefined {
    const exact = this.entries[model];
    if (exact) return exact;
    let best: string | undefined;
    for (const k of Object.keys(this.entries)) {
      if (model.startsWith(k) && (best === undefined || k.length > best.length)) best = k;
    }
    return best === undefined ? undefined : this.entries[best];
  }

  /** Cost in USD of one call; 0 (and one warning per model) when the model is not priced. */
  cost(model: string, usage: TokenUsage): number {
    const p = this.lookup(model);
    if (!p) {
      if (!warnedModels.has(model)) {
        warnedModels.add(model);
        this.logger.warn({ model }, 'no price for model: its calls are counted at $0');
      }
      return 0;
    }
    return (usage.inputTokens * p.inputPerMTok + usage.outputTokens * p.outputPerMTok) / 1_000_000;
  }
}
