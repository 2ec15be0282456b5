/** The LM layer's public API (docs/CONTRACTS.md, "LM layer"). */
export type { ChatRole, ChatMessage, GenerateOptions, TokenUsage, LMResponse, LM, RequestObserver, ResponseFormat, LMCapabilities } from './types.js';
export { LMError, isLMError, kindForStatus, type LMErrorKind, type LMErrorInit } from './errors.js';
export {
  BudgetExceededError,
  BudgetLimitsSchema,
  checkBudget,
  isBudgetExceededError,
  type Budget,
  type BudgetKind,
  type BudgetLimits,
  type BudgetState,
} from './budget.js';
export { UsageTracker, type UsageRecord, type UsageSnapshot, type ModelUsage } from './usage.js';
export { Meter, runWithMeter, currentMeter, currentMeters, type MeterOptions, type MeterReservation } from './meter.js';
export {
  PriceTable,
  DEFAULT_PRICES,
  ModelPriceSchema,
  PriceTableSchema,
  type ModelPrice,
  type PriceEntries,
} from './prices.js';
export {
  MemoryCache,
  DiskCache,
  TieredCache,
  createCache,
  CachedResponseSchema,
  type LMCache,
  type CachedResponse,
  type CacheOptions,
} from './cache.js';
export { requestKey, samplingOptions, type RequestIdentity } from './request_key.js';
export { sha256Hex } from '../util/canonical_json.js';
export {
  RateLimiter,
  RateLimiterRegistry,
  defaultLimiterRegistry,
  limiterKey,
  systemClock,
  parseRetryAfterMs,
  parseDurationMs,
  exhaustedResetMs,
  estimateTokens,
  type Clock,
  type RateLimiterOptions,
  type AcquireOptions,
  type HeaderSource,
} from './rate_limiter.js';
export type { ProviderLM, ResponseObserver } from './provider.js';
export { AnthropicLM, JSON_TOOL_NAME, type AnthropicLMOptions } from './anthropic.js';
export { OpenAICompatibleLM, responseFormatParam, type OpenAICompatibleLMOptions } from './openai.js';
export {
  CassetteLM,
  CassetteLineSchema,
  cassetteHash,
  loadCassette,
  type CassetteLMOptions,
  type CassetteLine,
} from './cassette.js';
export { ManagedLM, type ManagedLMOptions } from './managed.js';
export {
  parseLMSpec,
  validateLMSpec,
  formatLMSpec,
  LMSpecSchema,
  LM_SPEC_FORMS,
  DEFAULT_OPENAI_BASE_URL,
  type LMSpec,
  type AnthropicSpec,
  type OpenAISpec,
  type DummySpec,
  type CassetteSpec,
  type RemoteSpec,
} from './spec.js';
export { createLMLogger, lmLogger, REDACT_PATHS, type LMLoggerOptions } from './log.js';
