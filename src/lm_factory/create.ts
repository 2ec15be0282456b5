/**
 * createLM(spec, opts): an LM spec string (or parsed spec) to a ready ManagedLM: provider,
 * cache, usage tracker, prices, budget and the provider's shared rate limiter.
 *
 * Defaults: remote providers (anthropic, openai) get a memory LRU cache, plus a disk cache
 * under `cacheDir` (or ELEXIRION_LM_CACHE_DIR) when given; the dummy and cassettes get no cache
 * (a cache in front of a recording cassette would keep calls out of the recording). Remote
 * providers share one limiter per endpoint from `limiterRegistry` (default: process-wide),
 * fed with every HTTP response so a 429 pauses the callers of that endpoint and model.
 */
import type { Logger } from 'pino';
import { AnthropicLM, type AnthropicLMOptions } from '../lm/anthropic.js';
import type { BudgetLimits } from '../lm/budget.js';
import { createCache, type LMCache } from '../lm/cache.js';
import { CassetteLM } from '../lm/cassette.js';
import { DummyLM, type DummyLMConfig } from '../dspy/dummy_lm.js';
import { lmLogger } from '../lm/log.js';
import { ManagedLM } from '../lm/managed.js';
import { OpenAICompatibleLM, type OpenAICompatibleLMOptions } from '../lm/openai.js';
import { PriceTable, pricesFromEnv, type PriceEntries } from '../lm/prices.js';
import type { ProviderLM, ResponseObserver } from '../lm/provider.js';
import {
  RateLimiter,
  defaultLimiterRegistry,
  limiterKey,
  type RateLimiterOptions,
  type RateLimiterRegistry,
} from '../lm/rate_limiter.js';
import { parseLMSpec, validateLMSpec, type LMSpec, type RemoteSpec } from '../lm/spec.js';
import type { UsageTracker } from '../lm/usage.js';

export interface CreateLMOptions {
  /** Disk cache directory (remote providers). Default: ELEXIRION_LM_CACHE_DIR, else memory only. */
  cacheDir?: string;
  /** An explicit cache, or false for none; overrides the defaults above. */
  cache?: LMCache | false;
  maxMemoryCacheEntries?: number;
  prices?: PriceTable | PriceEntries;
  usage?: UsageTracker;
  budget?: BudgetLimits;
  /** A limiter to use, options for the shared one (applied when it is first created), or false. */
  limiter?: RateLimiter | RateLimiterOptions | false;
  limiterRegistry?: RateLimiterRegistry;
  logger?: Logger;
  /** API key for the remote provider (else ANTHROPIC_API_KEY / OPENAI_API_KEY). */
  apiKey?: string;
  anthropic?: Partial<Omit<AnthropicLMOptions, 'model'>>;
  openai?: Partial<Omit<OpenAICompatibleLMOptions, 'model' | 'baseURL'>>;
  /** Config for the dummy LM (`dummy`/`offline` specs): answers, mode, latencyMs, model. */
  dummy?: DummyLMConfig;
  /**
   * Wraps the `offline` LM (the follow-the-demos dummy). The sidecar passes the pipeline-aware
   * offline LM here, which reads demos out of rendered pipeline prompts; src/lm stays unaware
   * of pipelines.
   */
  offline?: (dummy: DummyLM) => ProviderLM;
}

const DEFAULT_LIMITS: Record<string, RateLimiterOptions> = {
  anthropic: { maxConcurrent: 8 },
  openai: { maxConcurrent: 4 },
};

function both(a: ResponseObserver | undefined, b: ResponseObserver | undefined): ResponseObserver | undefined {
  if (!a) return b;
  if (!b) return a;
  return (s, h) => {
    a(s, h);
    b(s, h);
  };
}

function remoteProvider(
  spec: RemoteSpec,
  opts: CreateLMOptions,
  logger: Logger,
): { provider: ProviderLM; limiter: RateLimiter | undefined } {
  const endpoint =
    spec.kind === 'openai' ? spec.baseURL : (opts.anthropic?.baseURL ?? process.env['ANTHROPIC_BASE_URL'] ?? 'https://api.anthropic.com');
  let limiter: RateLimiter | undefined;
  if (opts.limiter instanceof RateLimiter) limiter = opts.limiter;
  else if (opts.limiter !== false) {
    limiter = (opts.limiterRegistry ?? defaultLimiterRegistry).get(
      limiterKey(spec.kind, endpoint),
      opts.limiter ?? DEFAULT_LIMITS[spec.kind] ?? {},
    );
  }
  // Scoped to the model: a 429 for one model pauses only that model's requests.
  const observe = limiter ? (s: number, h: Headers) => limiter!.observe(s, h, spec.model) : undefined;
  if (spec.kind === 'anthropic') {
    const o: AnthropicLMOptions = { logger, ...opts.anthropic, model: spec.model };
    if (opts.apiKey !== undefined) o.apiKey = opts.apiKey;
    const onResponse = both(opts.anthropic?.onResponse, observe);
    if (onResponse) o.onResponse = onResponse;
    return { provider: new AnthropicLM(o), limiter };
  }
  const o: OpenAICompatibleLMOptions = { logger, ...opts.openai, model: spec.model, baseURL: spec.baseURL };
  if (opts.apiKey !== undefined) o.apiKey = opts.apiKey;
  const onResponse = both(opts.openai?.onResponse, observe);
  if (onResponse) o.onResponse = onResponse;
  return { provider: new OpenAICompatibleLM(o), limiter };
}

export function createLM(spec: string | LMSpec, opts: CreateLMOptions = {}): ManagedLM {
  const parsed = typeof spec === 'string' ? parseLMSpec(spec) : validateLMSpec(spec);
  const logger = opts.logger ?? lmLogger();
  let provider: ProviderLM;
  let limiter: RateLimiter | undefined;
  let defaultCache: LMCache | false = false;

  switch (parsed.kind) {
    case 'anthropic':
    case 'openai': {
      ({ provider, limiter } = remoteProvider(parsed, opts, logger));
      const dir = opts.cacheDir ?? process.env['ELEXIRION_LM_CACHE_DIR'];
      defaultCache = createCache({
        ...(dir ? { dir } : {}),
        ...(opts.maxMemoryCacheEntries !== undefined ? { maxMemoryEntries: opts.maxMemoryCacheEntries } : {}),
        logger,
      });
      break;
    }
    case 'dummy': {
      const dummy = new DummyLM({ ...(parsed.mode ? { mode: parsed.mode } : {}), ...opts.dummy });
      provider = parsed.mode === 'follow-demos' && opts.offline ? opts.offline(dummy) : dummy;
      break;
    }
    case 'cassette':
      if (parsed.record) {
        const r = remoteProvider(parsed.record, opts, logger);
        limiter = r.limiter;
        provider = new CassetteLM({ path: parsed.path, mode: 'record', inner: r.provider, logger });
      } else {
        provider = new CassetteLM({ path: parsed.path, mode: 'replay', logger });
      }
      break;
  }

  const prices =
    opts.prices instanceof PriceTable ? opts.prices : new PriceTable(opts.prices ?? pricesFromEnv(), { logger });
  const cache = opts.cache !== undefined ? opts.cache : defaultCache;
  return new ManagedLM(provider, {
    cache,
    prices,
    logger,
    ...(limiter ? { limiter } : {}),
    ...(opts.usage ? { usage: opts.usage } : {}),
    ...(opts.budget ? { budget: opts.budget } : {}),
  });
}
