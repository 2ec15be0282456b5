/**
 * The LM contract every provider and every consumer (predictors, judges, the sidecar's
 * `lm/generate`) shares. Providers implement `LM`; `ManagedLM` (cache, usage, budget,
 * rate limit) wraps a provider and is itself an `LM`, so consumers never care which they hold.
 */

export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

export interface GenerateOptions {
  temperature?: number;
  maxTokens?: number;
  stop?: string[];
  /** A distinct rollout id gives a fresh sample on purpose: it is part of the cache key. */
  rolloutId?: string | number;
  /** Skip the cache lookup (the fresh result is still written). */
  bypassCache?: boolean;
  /** Per-call timeout; providers also have their own default. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * Told of each request a provider sends for this call, retries included (ManagedLM counts
   * them so every request a provider may bill is metered). Providers that report requests set
   * `countsRequests` (provider.ts); for the others one dispatched call is one request.
   */
  requests?: RequestObserver;
}

export interface RequestObserver {
  /** A request is about to go out. */
  onStart(): void;
  /** That request ended; `aborted` when it was cut off before its answer (abort, timeout). */
  onEnd(aborted: boolean): void;
}

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}

export interface LMResponse {
  text: string;
  usage: TokenUsage;
  model: string;
  /** True when served from the cache: such a call costs nothing. */
  cached: boolean;
  /** Cost of this call in USD from the price table (0 when cached or unpriced). */
  costUsd: number;
}

export interface LM {
  /** Provider name: `anthropic`, `openai`, `dummy`, `cassette`, ... */
  readonly provider: string;
  readonly model: string;
  generate(messages: ChatMessage[], options?: GenerateOptions): Promise<LMResponse>;
}
