/**
 * Client-side rate limiting shared by every LM that talks to the same provider endpoint:
 * max concurrent requests, requests/minute and (estimated input) tokens/minute token buckets,
 * and pauses driven by the server: after a 429 (retry-after / reset headers), or when
 * Anthropic's `anthropic-ratelimit-*-remaining` or OpenAI's `x-ratelimit-remaining-*` reach 0,
 * the callers that limit applies to wait until the advertised reset. Provider rate limits are
 * per model, so a response observed with a `scope` (the model) pauses only the requests
 * acquired with that scope; other models on the same endpoint go on. A waiter whose signal
 * aborts (its run's deadline, a cancel) leaves the queue at once, so no pause outlasts a
 * deadline. Waiters are served in FIFO order among those not paused. The clock is injectable
 * so tests run on fake time.
 */
import { LMError } from './errors.js';

import { systemClock, type Clock } from '../util/clock.js';

export { systemClock, type Clock };

export interface RateLimiterOptions {
  maxConcurrent?: number;
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  clock?: Clock;
  /** Pause after a 429 that carries no retry-after or reset header. Default 1000 ms. */
  defaultPauseMs?: number;
  /** Upper bound on any server-requested pause (guards against bogus headers). Default 5 min. */
  maxPauseMs?: number;
}

export type HeaderSource = Headers | Record<string, string | string[] | undefined> | undefined | null;

export function headerValue(h: HeaderSource, name: string): string | undefined {
  if (!h) return undefined;
  if (typeof (h as Headers).get === 'function') return (h as Headers).get(name) ?? undefined;
  const rec = h as Record<string, string | string[] | undefined>;
  const v = rec[name] ?? rec[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** Server-advised delay from `retry-after-ms` / `retry-after` (seconds or HTTP date). */
export function parseRetryAfterMs(h: HeaderSource, nowMs: number = Date.now()): number | undefined {
  const ms = headerValue(h, 'retry-after-ms');
  if (ms !== undefined) {
    const n = Number.parseFloat(ms);
    if (Number.isFinite(n) && n >= 0) return n;
  }
  const ra = headerValue(h, 'retry-after');
  if (ra !== undefined) {
    const secs = Number(ra.trim());
    if (ra.trim() !== '' && Number.isFinite(secs) && secs >= 0) return secs * 1000;
    const at = Date.parse(ra);
    if (Number.isFinite(at)) return Math.max(0, at - nowMs);
  }
  return undefined;
}

/** OpenAI-style durations: `1s`, `6m0s`, `120ms`, `1h2m`. */
export function parseDurationMs(s: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let matched = false;
  for (const m of s.matchAll(re)) {
    matched = true;
    const n = Number(m[1]);
    const unit = m[2];
    total += unit === 'ms' ? n : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n * 3_600_000;
  }
  if (!matched) {
    const n = Number(s);
    return Number.isFinite(n) ? n * 1000 : undefined;
  }
  return total;
}

const ANTHROPIC_LIMITS = ['requests', 'tokens', 'input-tokens', 'output-tokens'];
const OPENAI_LIMITS = ['requests', 'tokens'];

/** Delay until the soonest exhausted provider limit resets, if any limit is at 0. */
export function exhaustedResetMs(h: HeaderSource, nowMs: number): number | undefined {
  let wait: number | undefined;
  const consider = (ms: number | undefined) => {
    if (ms !== undefined && Number.isFinite(ms) && ms > 0) wait = Math.max(wait ?? 0, ms);
  };
  for (const l of ANTHROPIC_LIMITS) {
    const rem = headerValue(h, `anthropic-ratelimit-${l}-remaining`);
    const reset = headerValue(h, `anthropic-ratelimit-${l}-reset`);
    if (rem !== undefined && Number(rem) <= 0 && reset) consider(Date.parse(reset) - nowMs);
  }
  for (const l of OPENAI_LIMITS) {
    const rem = headerValue(h, `x-ratelimit-remaining-${l}`);
    const reset = headerValue(h, `x-ratelimit-reset-${l}`);
    if (rem !== undefined && Number(rem) <= 0 && reset) consider(parseDurationMs(reset));
  }
  return wait;
}

interface Waiter {
  tokens: number;
  scope: string | undefined;
  resolve: (release: () => void) => void;
  reject: (e: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

export interface AcquireOptions {
  /** Estimated input tokens of the request (for the tokens/minute bucket). */
  estimatedTokens?: number;
  signal?: AbortSignal;
  /** What a scoped pause applies to (the model); unscoped waiters only see global pauses. */
  scope?: string;
}

export class RateLimiter {
  readonly maxConcurrent: number;
  readonly requestsPerMinute: number | undefined;
  readonly tokensPerMinute: number | undefined;
  private readonly clock: Clock;
  private readonly defaultPauseMs: number;
  private readonly maxPauseMs: number;
  private active = 0;
  private readonly queue: Waiter[] = [];
  private pausedUntilMs = 0;
  private readonly scopedPauses = new Map<string, number>();
  private reqBucket: number;
  private tokBucket: number;
  private lastRefill: number;
  private timer: unknown;
  private timerAt = Infinity;

  constructor(opts: RateLimiterOptions = {}) {
    this.maxConcurrent = opts.maxConcurrent ?? Infinity;
    this.requestsPerMinute = opts.requestsPerMinute;
    this.tokensPerMinute = opts.tokensPerMinute;
    this.clock = opts.clock ?? systemClock;
    this.defaultPauseMs = opts.defaultPauseMs ?? 1000;
    this.maxPauseMs = opts.maxPauseMs ?? 300_000;
    this.reqBucket = this.requestsPerMinute ?? 0;
    this.tokBucket = this.tokensPerMinute ?? 0;
    this.lastRefill = this.clock.now();
  }

  get inFlight(): number {
    return this.active;
  }
  get queued(): number {
    return this.queue.length;
  }
  /** Epoch ms until which every call is held back (0 or past: not paused). */
  get pausedUntil(): number {
    return this.pausedUntilMs;
  }

  /** Epoch ms until which calls of `scope` are held back (the global pause included). */
  pausedUntilFor(scope: string | undefined): number {
    const own = scope === undefined ? 0 : (this.scopedPauses.get(scope) ?? 0);
    return Math.max(this.pausedUntilMs, own);
  }

  /** Waits for a slot; resolves to a release function that must be called exactly once. */
  acquire(opts: AcquireOptions = {}): Promise<() => void> {
    const signal = opts.signal;
    if (signal?.aborted) {
      return Promise.reject(new LMError('aborted while waiting for the rate limiter', { kind: 'aborted', provider: 'limiter' }));
    }
    return new Promise((resolve, reject) => {
      const w: Waiter = { tokens: Math.max(0, opts.estimatedTokens ?? 0), scope: opts.scope, resolve, reject, signal, onAbort: undefined };
      if (signal) {
        w.onAbort = () => {
          const i = this.queue.indexOf(w);
          if (i >= 0) {
            this.queue.splice(i, 1);
            reject(new LMError('aborted while waiting for the rate limiter', { kind: 'aborted', provider: 'limiter' }));
            this.pump();
          }
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.queue.push(w);
      this.pump();
    });
  }

  /**
   * Holds back the callers of `scope` (every caller when no scope) until `untilMs` (epoch ms);
   * never shortens an existing pause.
   */
  pauseUntil(untilMs: number, scope?: string): void {
    const capped = Math.min(untilMs, this.clock.now() + this.maxPauseMs);
    if (scope === undefined) {
      if (capped > this.pausedUntilMs) this.pausedUntilMs = capped;
    } else if (capped > (this.scopedPauses.get(scope) ?? 0)) {
      this.scopedPauses.set(scope, capped);
    }
    this.pump();
  }

  pauseFor(ms: number, scope?: string): void {
    this.pauseUntil(this.clock.now() + ms, scope);
  }

  /**
   * Feed every HTTP response (including retried attempts) through here, with the model it was
   * for as `scope`: the pause it asks for then holds back only that model's requests.
   */
  observe(status: number, headers: HeaderSource, scope?: string): void {
    const now = this.clock.now();
    const retryAfter = parseRetryAfterMs(headers, now);
    const reset = exhaustedResetMs(headers, now);
    if (status === 429) {
      const wait = Math.max(retryAfter ?? 0, reset ?? 0);
      this.pauseFor(wait > 0 ? wait : this.defaultPauseMs, scope);
    } else if ((status === 529 || status === 503) && retryAfter !== undefined && retryAfter > 0) {
      this.pauseFor(retryAfter, scope);
    } else if (reset !== undefined) {
      this.pauseFor(reset, scope);
    }
  }

  private refill(now: number): void {
    const dt = Math.max(0, now - this.lastRefill);
    this.lastRefill = now;
    if (this.requestsPerMinute !== undefined) {
      this.reqBucket = Math.min(this.requestsPerMinute, this.reqBucket + (dt * this.requestsPerMinute) / 60_000);
    }
    if (this.tokensPerMinute !== undefined) {
      this.tokBucket = Math.min(this.tokensPerMinute, this.tokBucket + (dt * this.tokensPerMinute) / 60_000);
    }
  }

  private schedule(at: number): void {
    if (this.timer !== undefined && this.timerAt <= at) return;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timerAt = at;
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.pump();
    }, Math.max(1, Math.ceil(at - this.clock.now())));
  }

  private pump(): void {
    while (this.queue.length > 0) {
      if (this.active >= this.maxConcurrent) return; // a release pumps again
      const now = this.clock.now();
      if (now < this.pausedUntilMs) {
        this.schedule(this.pausedUntilMs);
        return;
      }
      // The first waiter whose scope is not paused; paused ones keep their place in line.
      let index = -1;
      let wakeAt = Infinity;
      for (let i = 0; i < this.queue.length; i++) {
        const until = this.pausedUntilFor(this.queue[i]!.scope);
        if (now >= until) {
          index = i;
          break;
        }
        wakeAt = Math.min(wakeAt, until);
      }
      if (index < 0) {
        this.schedule(wakeAt);
        return;
      }
      if (wakeAt < Infinity) this.schedule(wakeAt);
      this.refill(now);
      const w = this.queue[index]!;
      if (this.requestsPerMinute !== undefined && this.reqBucket < 1) {
        this.schedule(now + ((1 - this.reqBucket) * 60_000) / this.requestsPerMinute);
        return;
      }
      const need = this.tokensPerMinute === undefined ? 0 : Math.min(w.tokens, this.tokensPerMinute);
      if (this.tokensPerMinute !== undefined && this.tokBucket < need) {
        this.schedule(now + ((need - this.tokBucket) * 60_000) / this.tokensPerMinute);
        return;
      }
      if (this.requestsPerMinute !== undefined) this.reqBucket -= 1;
      if (this.tokensPerMinute !== undefined) this.tokBucket -= need;
      this.queue.splice(index, 1);
      if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
      this.active += 1;
      let released = false;
      w.resolve(() => {
        if (released) return;
        released = true;
        this.active -= 1;
        this.pump();
      });
    }
  }
}

/** One limiter per provider endpoint, shared by every LM that talks to it. */
export class RateLimiterRegistry {
  private readonly limiters = new Map<string, RateLimiter>();

  /** The limiter for `key`; `opts` only apply when this call creates it. */
  get(key: string, opts: RateLimiterOptions = {}): RateLimiter {
    let l = this.limiters.get(key);
    if (!l) {
      l = new RateLimiter(opts);
      this.limiters.set(key, l);
    }
    return l;
  }

  set(key: string, limiter: RateLimiter): void {
    this.limiters.set(key, limiter);
  }

  clear(): void {
    this.limiters.clear();
  }
}

export const defaultLimiterRegistry = new RateLimiterRegistry();

export function limiterKey(provider: string, endpoint?: string): string {
  return endpoint ? `${provider}|${endpoint}` : provider;
}

/** Rough input-token estimate for the tokens/minute bucket (~4 characters per token). */
export function estimateTokens(texts: Iterable<string>): number {
  let chars = 0;
  for (const t of texts) chars += t.length;
  return Math.ceil(chars / 4);
}
