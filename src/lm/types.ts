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
  /**
   * Ask the provider for JSON (native structured output). Only send it to an LM whose
   * `capabilities` declare the kind; the completion text is then the JSON object. Part of the
   * cache key.
   */
  responseFormat?: ResponseFormat;
  /**
   * Stream the completion: called with each piece of text as it arrives, in order (their
   * concatenation is the response text). Only LMs whose `capabilities.streaming` is true call
   * it; others, and answers served from the cache, return the whole text at once. Not part of
   * the cache key. A throwing handler is ignored.
   */
  onChunk?: (text: string) => void;
}

/**
 * Native structured output. `json_schema`: the answer is one JSON object that fits `schema`
 * (OpenAI-compatible `response_format: { type: 'json_schema', json_schema: { name, schema, strict } }`;
 * Anthropic: one forced tool whose `input_schema` is `schema`). `json_object`: any JSON object.
 */
export type ResponseFormat =
  | { type: 'json_schema'; name: string; schema: Record<string, unknown>; strict?: boolean }
  | { type: 'json_object' };

/** What an LM can do beyond plain text (absent or false: it cannot). */
export interface LMCapabilities {
  /** Accepts `responseFormat: { type: 'json_schema' }`. */
  jsonSchema?: boolean;
  /** Accepts `responseFormat: { type: 'json_object' }`. */
  jsonObject?: boolean;
  /** Implements `LM.stream`. */
  streaming?: boolean;
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
  /** What this LM supports beyond plain text; absent: plain text only. */
  readonly capabilities?: LMCapabilities;
  generate(messages: ChatMessage[], options?: GenerateOptions): Promise<LMResponse>;
}
