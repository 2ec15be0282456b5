/**
 * ManagedLM: a provider wrapped with everything that makes long runs against a paid API safe.
 * Per call, in order:
 *   1. wall-clock budgets (own and the current meter's) are checked;
 *   2. the cache is consulted (unless `bypassCache`): a hit returns `cached: true`, costs $0,
 *      counts as a call and a cache hit, and takes no budget slot;
 *   3. a provider-call slot is reserved in the own meter and every current meter
 *      (`currentMeters()`: nested runWithMeter scopes), throwing BudgetExceededError when a
 *      limit is reached;
 *   4. the shared rate limiter admits the call (pauses scoped to this model);
 *   5. the provider answers; usage and cost are recorded into all those trackers; the result is cached.
 * The soonest wall-clock budget is a deadline: a limiter wait, a provider's retry wait or a
 * request still running when it passes ends the call there with BudgetExceededError('wall').
 * Every request that reached the provider is recorded, answered, failed or aborted (a provider
 * may bill it): `sent` counts them (retries included when the provider reports them), an
 * aborted one is charged its estimated input tokens (a stream cut off midway, also the text it
 * had written so far). Only a call that sent nothing (cancelled
 * in the limiter queue, refused before sending) gives its slot back. Failures are logged
 * (never with credentials).
 */
import type { Logger } from 'pino';
import { BudgetExceededError, type BudgetLimits } from './budget.js';
import { LMError } from './errors.js';
import { lmLogger } from './log.js';
import { Meter, currentMeters, type MeterReservation } from './meter.js';
import { PriceTable } from './prices.js';
import type { ProviderLM } from './provider.js';
import { estimateTokens, type RateLimiter } from './rate_limiter.js';
import { requestKey } from './request_key.js';
import type { LMCache } from './cache.js';
import type { ChatMessage, GenerateOptions, LM, LMCapabilities, LMResponse, RequestObserver } from './types.js';
import { systemClock, type Clock } from '../util/clock.js';
import { UsageTracker, type UsageRecord } from './usage.js';

export interface ManagedLMOptions {
  /** Omit (or false) for no cache. */
  cache?: LMCache | false;
  /** This LM's own tracker; may be shared between LMs. New one when absent. */
  usage?: UsageTracker;
  /** Limits on this LM alone (the current meter's budget applies as well). */
  budget?: BudgetLimits;
  prices?: PriceTable;
  limiter?: RateLimiter;
  logger?: Logger;
  /** Clock for the wall-clock budget of this LM's own meter. */
  now?: () => number;
  /** Timers for wall-clock deadlines (tests pass a FakeClock). Default: the system clock. */
  clock?: Clock;
}

/** Counts the requests a provider reports for one call (see RequestObserver). */
class RequestCount implements RequestObserver {
  started = 0;
  private finishedCount = 0;
  private abortedCount = 0;

  onStart(): void {
    this.started += 1;
  }

  onEnd(aborted: boolean): void {
    this.finishedCount += 1;
    if (aborted) this.abortedCount += 1;
  }

  /** Requests cut off so far, counting those still unfinished (their call is ending). */
  abortedSoFar(): number {
    return this.abortedCount + (this.started - this.finishedCount);
  }
}

/** Errors raised before anything was sent to a provider. */
function neverSent(e: unknown): boolean {
  if (!(e instanceof LMError)) return false;
  return e.kind === 'config' || e.kind === 'cassette_miss' || (e.kind === 'auth' && e.status === undefined);
}

/** An error that means the request was cut off rather than answered. */
function isAbortLike(e: unknown): boolean {
  if (e instanceof LMError) return e.kind === 'aborted' || (e.kind === 'timeout' && e.status === undefined);
  return (e as { name?: unknown })?.name === 'AbortError';
}

/** `p`, or a rejection with the signal's reason as soon as it aborts (p's outcome is then ignored). */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      p.catch(() => {});
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

export class ManagedLM implements LM {
  readonly inner: ProviderLM;
  readonly cache: LMCache | undefined;
  readonly limiter: RateLimiter | undefined;
  readonly prices: PriceTable;
  /** This LM's own meter: its `usage` and `budget`. */
  readonly meter: Meter;
  private readonly logger: Logger;
  private readonly clock: Clock;
  /** Requests on their way to the provider, by cache key (see `generate`). */
  private readonly flights = new Map<string, Promise<LMResponse>>();

  constructor(inner: ProviderLM, opts: ManagedLMOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.inner = inner;
    this.cache = opts.cache === false ? undefined : opts.cache;
    this.limiter = opts.limiter;
    this.logger = (opts.logger ?? lmLogger()).child({ provider: inner.provider, model: inner.model });
    this.prices = opts.prices ?? new PriceTable({}, { logger: this.logger });
    this.meter = new Meter({
      ...(opts.usage ? { usage: opts.usage } : {}),
      ...(opts.budget ? { budget: opts.budget } : {}),
      ...(opts.now ? { now: opts.now } : opts.clock ? { now: () => this.clock.now() } : {}),
    });
  }

  get provider(): string {
    return this.inner.provider;
  }

  get model(): string {
    return this.inner.model;
  }

  /** The provider's: a managed LM supports what its provider supports. */
  get capabilities(): LMCapabilities | undefined {
    return this.inner.capabilities;
  }

  get usage(): UsageTracker {
    return this.meter.usage;
  }

  /**
   * The cache key of a request (sha256 hex; no credentials in it). The options are the ones the
   * provider will use: a call's own, else the provider's configured defaults (an LM configured
   * with maxTokens 256 must not be served answers cached under maxTokens 4096).
   */
  cacheKey(messages: ChatMessage[], options: GenerateOptions = {}): string {
    const effective: GenerateOptions = { ...options };
    for (const [k, v] of Object.entries(this.inner.defaultOptions ?? {})) {
      const key = k as 'temperature' | 'maxTokens' | 'stop';
      if (effective[key] === undefined && v !== undefined) (effective as Record<string, unknown>)[key] = v;
    }
    return requestKey({
      provider: this.inner.provider,
      model: this.inner.model,
      ...(this.inner.endpoint !== undefined ? { endpoint: this.inner.endpoint } : {}),
      messages,
      options: effective,
    });
  }

  async generate(messages: ChatMessage[], options: GenerateOptions = {}): Promise<LMResponse> {
    const ambient = currentMeters();
    const meters = ambient.length === 0 ? [this.meter] : [this.meter, ...ambient.filter((m) => m !== this.meter)];
    for (const m of meters) m.checkWall();

    const key = this.cache ? this.cacheKey(messages, options) : undefined;
    if (this.cache && key !== undefined && !options.bypassCache) {
      let hit;
      try {
        hit = await this.cache.get(key);
      } catch (e) {
        this.logger.warn({ err: String(e) }, 'lm cache read failed; calling the provider');
      }
      if (hit) {
        const rec: UsageRecord = { model: hit.model, inputTokens: 0, outputTokens: 0, cached: true, costUsd: 0 };
        for (const m of meters) m.record(rec);
        return { text: hit.text, usage: { ...hit.usage }, model: hit.model, cached: true, costUsd: 0 };
      }
    }

    // The same request already on its way (two walks built side by side asking the teacher the
    // same thing): wait for that answer, as a sequential run would have found it in the cache.
    const coalesce = this.cache !== undefined && key !== undefined && !options.bypassCache;
    const leader = coalesce ? this.flights.get(key) : undefined;
    if (leader) {
      let shared: LMResponse | undefined;
      try {
        shared = await (options.signal ? raceAbort(leader, options.signal) : leader);
      } catch (e) {
        if (options.signal?.aborted) throw e;
        // The first caller failed (or was cancelled): this one asks on its own.
      }
      if (shared) {
        const rec: UsageRecord = { model: shared.model, inputTokens: 0, outputTokens: 0, cached: true, costUsd: 0 };
        for (const m of meters) m.record(rec);
        return { text: shared.text, usage: { ...shared.usage }, model: shared.model, cached: true, costUsd: 0 };
      }
    }
    if (!coalesce || this.flights.has(key)) return this.fromProvider(messages, options, meters, key);
    let settle: (r: LMResponse | undefined) => void = () => {};
    const flight = new Promise<LMResponse>((resolve, reject) => {
      settle = (r) => (r ? resolve(r) : reject(new Error('the shared request failed')));
    });
    flight.catch(() => {});
    this.flights.set(key, flight);
    let result: LMResponse | undefined;
    try {
      result = await this.fromProvider(messages, options, meters, key);
      return result;
    } finally {
      this.flights.delete(key);
      settle(result);
    }
  }

  /** Steps 3-5: budget slot, rate limiter, the provider (under the deadline), usage, cache write. */
  private async fromProvider(messages: ChatMessage[], options: GenerateOptions, meters: Meter[], key: string | undefined): Promise<LMResponse> {
    // A dollar cap cannot be enforced on calls we cannot price: refuse rather than spend blind.
    const billable = this.inner.billable ?? this.inner.provider !== 'dummy';
    if (billable && meters.some((m) => m.budget?.maxUsd !== undefined) && !this.prices.lookup(this.inner.model)) {
      throw new LMError(
        `model ${this.inner.model} has no price, so a USD budget cannot be enforced on it: ` +
          'add its price (createLM prices / ELEXIRION_PRICES) or cap the run with maxCalls/maxTokens instead',
        { kind: 'config', provider: this.inner.provider },
      );
    }

    const reservations: MeterReservation[] = [];
    try {
      for (const m of meters) reservations.push(m.reserve());
    } catch (e) {
      for (const r of reservations) r.cancel();
      throw e;
    }

    // The wall-clock budget is a deadline: a rate-limit wait, a retry wait or a request still
    // running when it passes ends there with BudgetExceededError('wall').
    const deadline = this.deadline(meters);
    const signals = [options.signal, deadline?.signal].filter((x): x is AbortSignal => x !== undefined);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    const estimatedTokens = estimateTokens(messages.map((m) => m.content));
    const requests = new RequestCount();
    // A stream cut off midway was billed for what it had written: that text is kept to charge it.
    let streamedText = '';
    const onChunk = options.onChunk;
    const streamOptions: Pick<GenerateOptions, 'onChunk'> = onChunk
      ? {
          onChunk: (t: string) => {
            streamedText += t;
            onChunk(t);
          },
        }
      : {};
    let dispatched = false;
    let release: (() => void) | undefined;
    let res: LMResponse;
    const started = Date.now();
    try {
      if (this.limiter) {
        release = await this.limiter.acquire({
          estimatedTokens,
          scope: this.inner.model,
          ...(signal ? { signal } : {}),
        });
      }
      dispatched = true;
      const call = this.inner.generate(messages, { ...options, ...(signal ? { signal } : {}), ...streamOptions, requests });
      // A provider that does not give up at once when aborted (an SDK's own retry wait) must
      // not hold the run past its deadline: whatever it does later is not awaited.
      res = signal ? await raceAbort(call, signal) : await call;
    } catch (e) {
      const cutOff = signal?.aborted === true || isAbortLike(e);
      const sent = this.inner.countsRequests ? requests.started : dispatched && !neverSent(e) ? 1 : 0;
      if (sent === 0) for (const r of reservations) r.cancel();
      else {
        const aborted = this.inner.countsRequests ? requests.abortedSoFar() : cutOff ? 1 : 0;
        const inputTokens = aborted * estimatedTokens;
        const outputTokens = streamedText ? estimateTokens([streamedText]) : 0;
        const rec: UsageRecord = {
          model: this.inner.model,
          inputTokens,
          outputTokens,
          cached: false,
          costUsd: billable && inputTokens + outputTokens > 0 ? this.prices.cost(this.inner.model, { inputTokens, outputTokens }) : 0,
          requests: sent,
          aborted,
        };
        for (const r of reservations) r.commit(rec);
      }
      this.logFailure(e, Date.now() - started);
      if (deadline?.signal.aborted && !options.signal?.aborted) throw deadline.signal.reason;
      // A caller's abort reads the same whatever the provider (or the race above) threw.
      if (options.signal?.aborted && !(e instanceof LMError) && !(e instanceof BudgetExceededError)) {
        throw new LMError(`${this.inner.provider}: request aborted`, { kind: 'aborted', provider: this.inner.provider, cause: e });
      }
      throw e;
    } finally {
      release?.();
      deadline?.dispose();
    }

    // Requests cut off before a retry that answered (attempt timeouts) are charged too.
    const abortedBefore = this.inner.countsRequests ? requests.abortedSoFar() : 0;
    const usage = { inputTokens: res.usage.inputTokens + abortedBefore * estimatedTokens, outputTokens: res.usage.outputTokens };
    const costUsd = billable ? this.prices.cost(res.model, usage) : 0;
    const rec: UsageRecord = {
      model: res.model,
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      cached: false,
      costUsd,
      requests: this.inner.countsRequests ? Math.max(1, requests.started) : 1,
      aborted: abortedBefore,
    };
    for (const r of reservations) r.commit(rec);

    if (this.cache && key !== undefined) {
      try {
        await this.cache.set(key, { text: res.text, usage: { ...res.usage }, model: res.model });
      } catch (e) {
        this.logger.warn({ err: String(e) }, 'lm cache write failed; result returned uncached');
      }
    }
    this.logger.debug(
      { durationMs: Date.now() - started, inputTokens: rec.inputTokens, outputTokens: rec.outputTokens, costUsd },
      'lm call',
    );
    return { text: res.text, usage: { ...res.usage }, model: res.model, cached: false, costUsd };
  }

  /** A signal that aborts when the soonest wall-clock budget among `meters` ends. */
  private deadline(meters: readonly Meter[]): { signal: AbortSignal; dispose(): void } | undefined {
    let soonest: { meter: Meter; remaining: number } | undefined;
    for (const m of meters) {
      const remaining = m.remainingWallMs();
      if (remaining !== undefined && (!soonest || remaining < soonest.remaining)) soonest = { meter: m, remaining };
    }
    if (!soonest) return undefined;
    const { meter } = soonest;
    const ac = new AbortController();
    const timer = this.clock.setTimer(
      () => ac.abort(new BudgetExceededError('wall', meter.budget?.maxWallMs ?? 0, meter.elapsedMs())),
      Math.max(0, soonest.remaining),
    );
    return { signal: ac.signal, dispose: () => this.clock.clearTimer(timer) };
  }

  private logFailure(e: unknown, durationMs: number): void {
    if (e instanceof LMError) {
      // A call aborted on purpose (cancelled run, speculative bootstrap work past its quota) is
      // not a failure worth a warning.
      const level = e.kind === 'aborted' ? 'debug' : 'warn';
      this.logger[level]({ err: e.toJSON(), durationMs }, `lm call failed: ${e.kind}`);
    } else {
      this.logger.warn({ err: { message: e instanceof Error ? e.message : String(e) }, durationMs }, 'lm call failed');
    }
  }
}
