/**
 * What a provider may tell `ManagedLM` beyond the fixed `LM` interface.
 */
import type { GenerateOptions, LM } from './types.js';

/** Called with every HTTP response a provider receives, retried attempts included. */
export type ResponseObserver = (status: number, headers: Headers) => void;

export interface ProviderLM extends LM {
  /** False for LMs whose calls cost nothing (dummy, cassette replay): they are priced at $0. */
  readonly billable?: boolean;
  /** True when the provider reports each request it sends through `GenerateOptions.requests`. */
  readonly countsRequests?: boolean;
  /** Credential-free endpoint identity that changes completions (part of the cache key). */
  readonly endpoint?: string;
  /**
   * Sampling defaults the provider was configured with and applies when a call gives none
   * (temperature, maxTokens, stop): they change completions, so they are part of the cache key.
   */
  readonly defaultOptions?: Pick<GenerateOptions, 'temperature' | 'maxTokens' | 'stop'>;
}

/** The sampling defaults set in a provider's options (unset ones left out, so keys stay stable). */
export function configuredDefaults(o: { temperature?: number; maxTokens?: number; stop?: string[] }): Pick<GenerateOptions, 'temperature' | 'maxTokens' | 'stop'> {
  return {
    ...(o.temperature !== undefined ? { temperature: o.temperature } : {}),
    ...(o.maxTokens !== undefined ? { maxTokens: o.maxTokens } : {}),
    ...(o.stop !== undefined ? { stop: o.stop } : {}),
  };
}

/** Wraps a fetch so `observe` sees each response's status and headers before the caller. */
export function observingFetch(base: typeof fetch, observe: ResponseObserver | undefined): typeof fetch {
  if (!observe) return base;
  return (async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    const res = await base(input, init);
    try {
      observe(res.status, res.headers);
    } catch {
      // An observer bug must not fail the request.
    }
    return res;
  }) as typeof fetch;
}
