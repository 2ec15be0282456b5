/**
 * What a provider may tell `ManagedLM` beyond the fixed `LM` interface.
 */
import type { LM } from './types.js';

/** Called with every HTTP response a provider receives, retried attempts included. */
export type ResponseObserver = (status: number, headers: Headers) => void;

export interface ProviderLM extends LM {
  /** False for LMs whose calls cost nothing (dummy, cassette replay): they are priced at $0. */
  readonly billable?: boolean;
  /** Credential-free endpoint identity that changes completions (part of the cache key). */
  readonly endpoint?: string;
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
