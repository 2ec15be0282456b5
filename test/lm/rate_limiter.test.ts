import { describe, expect, it } from 'vitest';
import { ManagedLM } from '../../src/lm/managed.js';
import {
  RateLimiter,
  RateLimiterRegistry,
  parseDurationMs,
  parseRetryAfterMs,
} from '../../src/lm/rate_limiter.js';
import { FakeClock, ScriptedProvider, captureLogger, flush, msgs } from './helpers.js';

/** Starts `n` acquires; `granted` lists their release functions as they are admitted. */
function acquireMany(l: RateLimiter, n: number, tokens = 0) {
  const granted: Array<() => void> = [];
  const order: number[] = [];
  for (let i = 0; i < n; i++) {
    void l.acquire({ estimatedTokens: tokens }).then((rel) => {
      granted.push(rel);
      order.push(i);
    });
  }
  return { granted, order };
}

describe('RateLimiter (fake clock)', () => {
  it('never admits more than maxConcurrent; a release admits the next in FIFO order', async () => {
    const l = new RateLimiter({ maxConcurrent: 2, clock: new FakeClock() });
    const { granted, order } = acquireMany(l, 5);
    await flush();
    expect(granted).toHaveLength(2);
    expect(l.queued).toBe(3);
    granted[0]!();
    granted[0]!(); // double release is harmless
    await flush();
    expect(granted).toHaveLength(3);
    expect(l.inFlight).toBe(2);
    granted[1]!();
    granted[2]!();
    await flush();
    expect(order).toEqual([0, 1, 2, 3, 4]);
  });

  it('after a 429 with retry-after, holds every caller until it has passed', async () => {
    const clock = new FakeClock();
    const l = new RateLimiter({ clock });
    l.observe(429, new Headers({ 'retry-after': '2' }));
    const { granted } = acquireMany(l, 3);
    await clock.advance(1999);
    expect(granted).toHaveLength(0);
    await clock.advance(1);
    expect(granted).toHaveLength(3);
  });

  it('honours Anthropic rate-limit headers (remaining 0 until the RFC 3339 reset), even on a 200', async () => {
    const clock = new FakeClock();
    const l = new RateLimiter({ clock });
    const reset = new Date(clock.now() + 3000).toISOString();
    l.observe(200, new Headers({ 'anthropic-ratelimit-requests-remaining': '0', 'anthropic-ratelimit-requests-reset': reset }));
    const { granted } = acquireMany(l, 1);
    await clock.advance(2990);
    expect(granted).toHaveLength(0);
    await clock.advance(10);
    expect(granted).toHaveLength(1);
    // A limit with requests left does not pause.
    l.observe(200, new Headers({ 'anthropic-ratelimit-tokens-remaining': '5000', 'anthropic-ratelimit-tokens-reset': reset }));
    const more = acquireMany(l, 1);
    await flush();
    expect(more.granted).toHaveLength(1);
  });

  it('honours OpenAI x-ratelimit headers, and a bare 429 pauses for the default', async () => {
    const clock = new FakeClock();
    const l = new RateLimiter({ clock, defaultPauseMs: 500 });
    l.observe(429, new Headers({ 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '1m0.5s' }));
    expect(l.pausedUntil - clock.now()).toBe(60_500);
    const l2 = new RateLimiter({ clock, defaultPauseMs: 500 });
    l2.observe(429, new Headers());
    expect(l2.pausedUntil - clock.now()).toBe(500);
  });

  it('spaces requests to requests/minute and estimated tokens to tokens/minute', async () => {
    const clock = new FakeClock();
    const l = new RateLimiter({ clock, requestsPerMinute: 2 });
    const { granted } = acquireMany(l, 3);
    await flush();
    expect(granted).toHaveLength(2);
    await clock.advance(29_999);
    expect(granted).toHaveLength(2);
    await clock.advance(1);
    expect(granted).toHaveLength(3);

    const t = new RateLimiter({ clock, tokensPerMinute: 1000 });
    const tok = acquireMany(t, 3, 400);
    await flush();
    expect(tok.granted).toHaveLength(2); // 800 of 1000
    await clock.advance(11_999); // needs 200 more tokens: 12 s at 1000/min
    expect(tok.granted).toHaveLength(2);
    await clock.advance(1);
    expect(tok.granted).toHaveLength(3);
  });

  it('a waiter whose signal aborts leaves the queue with an aborted error', async () => {
    const l = new RateLimiter({ maxConcurrent: 1, clock: new FakeClock() });
    const first = await l.acquire();
    const ac = new AbortController();
    const waiting = l.acquire({ signal: ac.signal });
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ kind: 'aborted' });
    expect(l.queued).toBe(0);
    first();
  });

  it('parses retry-after forms', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfterMs(new Headers({ 'retry-after': '3' }), now)).toBe(3000);
    expect(parseRetryAfterMs(new Headers({ 'retry-after-ms': '250', 'retry-after': '3' }), now)).toBe(250);
    expect(parseRetryAfterMs({ 'retry-after': 'Thu, 01 Jan 2026 00:00:05 GMT' }, now)).toBe(5000);
    expect(parseRetryAfterMs(new Headers(), now)).toBeUndefined();
    expect(parseDurationMs('6m0s')).toBe(360_000);
    expect(parseDurationMs('120ms')).toBe(120);
  });
});

describe('shared limiter per provider', () => {
  it('the registry hands the same limiter to every LM of an endpoint', () => {
    const r = new RateLimiterRegistry();
    expect(r.get('anthropic', { maxConcurrent: 2 })).toBe(r.get('anthropic'));
    expect(r.get('openai|http://a')).not.toBe(r.get('openai|http://b'));
  });

  it('ManagedLMs sharing a limiter never exceed its concurrency together', async () => {
    const limiter = new RateLimiter({ maxConcurrent: 3 });
    const p = new ScriptedProvider('m', { delayMs: 5 });
    const a = new ManagedLM(p, { limiter, logger: captureLogger().logger });
    const b = new ManagedLM(p, { limiter, logger: captureLogger().logger });
    await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).generate(msgs(`q${i}`))));
    expect(p.calls).toBe(12);
    expect(p.maxActive).toBe(3);
    expect(limiter.inFlight).toBe(0);
  });
});
