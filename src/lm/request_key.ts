/**
 * Request identity for the cache and cassettes: sha256 of the canonical JSON (sorted keys, no
 * undefined) of everything that determines a completion, and nothing that does not. Credentials
 * are never part of it, so rotating an API key keeps the cache; `rolloutId` is, so a distinct
 * rollout gets a fresh sample on purpose.
 */
import { createHash } from 'node:crypto';
import type { ChatMessage, GenerateOptions } from './types.js';

export function canonicalJSON(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) {
    return `[${value.map((v) => (v === undefined ? 'null' : canonicalJSON(v))).join(',')}]`;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined && typeof obj[k] !== 'function')
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJSON(obj[k])}`).join(',')}}`;
}

export function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** The sampling options that change a completion (timeouts, signals, bypassCache do not). */
export function samplingOptions(o: GenerateOptions = {}): Record<string, unknown> {
  return {
    temperature: o.temperature,
    maxTokens: o.maxTokens,
    stop: o.stop,
    rolloutId: o.rolloutId,
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
    canonicalJSON({
      v: 1,
      provider: r.provider,
      model: r.model,
      endpoint: r.endpoint,
      messages: r.messages.map((m) => ({ role: m.role, content: m.content })),
      options: samplingOptions(r.options),
    }),
  );
}
