/**
 * ManagedLM: a provider wrapped with everything that makes long runs against a paid API safe.
 * Per call, in order:
 *   1. wall-clock budgets (own and the current meter's) are checked;
 *   2. the cache is consulted (unless `bypassCache`): a hit returns `cached: true`, costs $0,
 *      counts as a call and a cache hit, and takes no budget slot;
 *   3. a provider-call slot is reserved in the own meter and every current meter
 *      (`currentMeters()`: nested runWithMeter scopes), throwing BudgetExceededError when a
 *      limit is reached;
 *   4. the shared rate limiter admits the call;
 *   5. the provider answers; usage and cost are recorded into all those trackers; the result is cached.
 * A failed provider call releases its budget slot and is logged (never with credentials).
 */
import type { Logger } from 'pino';
import { LMError } from './errors.js';
import { lmLogger } from './log.js';
import { Meter, currentMeters, type MeterReservation } from './meter.js';
import { PriceTable } from './prices.js';
import type { ProviderLM } from './provider.js';
import { estimateTokens, type RateLimiter } from './rate_limiter.js';
import { requestKey } from './request_key.js';
import type { LMCache } from './cache.js';
import type { BudgetLimits } from './budget.js';
import type { ChatMessage, GenerateOptions, LM, LMResponse } from './types.js';
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
}

export class ManagedLM implements LM {
  readonly inner: ProviderLM;
  readonly cache: LMCache | undefined;
  readonly limiter: RateLimiter | undefined;
  readonly prices: PriceTable;
  /** This LM's own meter: its `usage` and `budget`. */
  readonly meter: Meter;
  private readonly logger: Logger;

  constructor(inner: ProviderLM, opts: ManagedLMOptions = {}) {
    this.inner = inner;
    this.cache = opts.cache === false ? undefined : opts.cache;
    this.limiter = opts.limiter;
    this.logger = (opts.logger ?? lmLogger()).child({ provider: inner.provider, model: inner.model });
    this.prices = opts.prices ?? new PriceTable({}, { logger: this.logger });
    this.meter = new Meter({
      ...(opts.usage ? { usage: opts.usage } : {}),
      ...(opts.budget ? { budget: opts.budget } : {}),
      ...(opts.now ? { now: opts.now } : {}),
    });
  }

  get provider(): string {
    return this.inner.provider;
  }

  get model(): string {
    return this.inner.model;
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

    let release: (() => void) | undefined;
    let res: LMResponse;
    const started = Date.now();
    try {
      if (this.limiter) {
        release = await this.limiter.acquire({
          estimatedTokens: estimateTokens(messages.map((m) => m.content)),
          ...(options.signal ? { signal: options.signal } : {}),
        });
      }
      res = await this.inner.generate(messages, options);
    } catch (e) {
      for (const r of reservations) r.cancel();
      this.logFailure(e, Date.now() - started);
      throw e;
    } finally {
      release?.();
    }

    const costUsd = billable ? this.prices.cost(res.model, res.usage) : 0;
    const rec: UsageRecord = {
      model: res.model,
      inputTokens: res.usage.inputTokens,
      outputTokens: res.usage.outputTokens,
      cached: false,
      costUsd,
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
