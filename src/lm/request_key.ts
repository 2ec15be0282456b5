/**
 * Request identity for the cache and cassettes: sha256 of the canonical JSON (sorted keys, no
 * undefined) of everything that determines a completion, and nothing that does not. Credentials
 * are never part of it, so rotating an API key keeps the cache; `rolloutId` is, so a distinct
 * rollout gets a fresh sample on purpose.
 */
import { canonicalJson, sha256Hex } from '../util/canonical_json.js';
import type { ChatMessage, GenerateOptions } from './types.js';

/**
 * The options that change a completion (timeouts, signals, bypassCache do not). A response
 * format is one: the same prompt asked for a JSON schema answers differently. Unset options
 * are dropped by the canonical JSON, so keys of plain-text calls are what they always were.
 */
export function samplingOptions(o: GenerateOptions = {}): Record<string, unknown> {
  return {
    temperature: o.temperature,
    maxTokens: o.maxTokens,
    stop: o.stop,
    rolloutId: o.rolloutId,
    responseFormat: o.responseFormat,
  };
}

export interface RequestIdentity {
  provider: string;
  model: string;
  /** Extra provider identity without credentials (e.g. an OpenAI-compatible base URL). */
  endpoint?: string;
  messages: ChatMessage[];
  options?: GenerateOptions;
}

export function requestKey(r: RequestIdentity): string {
  return sha256Hex(
    canonicalJson({
      v: 1,
      provider: r.provider,
      model: r.model,
      endpoint: r.endpoint,
      messages: r.messages.map((m) => ({ role: m.role, content: m.content })),
      options: samplingOptions(r.options),
    }),
  );
}
