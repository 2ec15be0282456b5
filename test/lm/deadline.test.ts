/**
 * The wall-clock budget is a deadline (issue #12 item 5), and every request that reached a
 * provider is counted and charged, aborted or not (issue #11 item 2). Fake clocks: nothing here
 * waits for real time.
 */
import { describe, expect, it } from 'vitest';
import { BudgetExceededError } from '../../src/lm/budget.js';
import { ManagedLM } from '../../src/lm/managed.js';
import { Meter, runWithMeter } from '../../src/lm/meter.js';
import { RateLimiter } from '../../src/lm/rate_limiter.js';
import type { ProviderLM } from '../../src/lm/provider.js';
import type { ChatMessage, GenerateOptions, LMResponse } from '../../src/lm/types.js';
import { FakeClock } from '../../src/util/clock.js';
import { ScriptedProvider, captureLogger, msgs } from './helpers.js';

const quiet = () => captureLogger().logger;
const flush = () => new Promise<void>((r) => setImmediate(r));

/** A provider whose calls never answer and ignore their signal (an SDK sleeping out a retry). */
class StuckProvider implements ProviderLM {
  readonly provider = 'scripted';
  readonly billable = true;
  calls = 0;
  constructor(readonly model = 'claude-sonnet-4-5') {}
  generate(_m: ChatMessage[], _o?: GenerateOptions): Promise<LMResponse> {
    this.calls += 1;
    return new Promise<LMResponse>(() => {});
  }
}

async function settle<T>(p: Promise<T>): Promise<unknown> {
  return p.then(
    () => 'resolved',
    (e: unknown) => e,
  );
}

describe('wall-clock budget as a deadline', () => {
  it('a request still running at the deadline ends there with BudgetExceededError(wall), counted as sent and aborted', async () => {
    const clock = new FakeClock(1_000_000);
    const p = new StuckProvider();
    const lm = new ManagedLM(p, { clock, budget: { maxWallMs: 5000 }, logger: quiet() });
    const outcome = settle(lm.generate(msgs('question'.repeat(50))));
    await flush();
    expect(p.calls).toBe(1);
    await clock.advance(4999, flush);
    let done = false;
    void outcome.then(() => (done = true));
    await flush();
    expect(done).toBe(false);
    await clock.advance(1, flush);
    const e = await outcome;
    expect(e).toBeInstanceOf(BudgetExceededError);
    expect(e).toMatchObject({ kind: 'wall', limit: 5000 });
    const u = lm.usage.snapshot();
    expect(u).toMatchObject({ calls: 1, sent: 1, aborted: 1 });
    // Tokens of an aborted request are unknown: its input is charged from an estimate.
    expect(u.inputTokens).toBeGreaterThan(0);
    expect(u.outputTokens).toBe(0);
    expect(u.costUsd).toBeGreaterThan(0);
  });

  it("a run meter's deadline applies to calls inside it (the soonest deadline wins)", async () => {
    const clock = new FakeClock(0);
    const p = new StuckProvider();
    const lm = new ManagedLM(p, { clock, budget: { maxWallMs: 60_000 }, logger: quiet() });
    const run = new Meter({ budget: { maxWallMs: 2000 }, now: () => clock.now() });
    const outcome = settle(runWithMeter(run, () => lm.generate(msgs('q'))));
    await clock.advance(2000, flush);
    expect(await outcome).toMatchObject({ name: 'BudgetExceededError', kind: 'wall', limit: 2000 });
    expect(run.usage.snapshot()).toMatchObject({ sent: 1, aborted: 1 });
  });

  it('a rate-limit pause that would outlast the deadline ends at the deadline, nothing sent', async () => {
    const clock = new FakeClock(0);
    const limiter = new RateLimiter({ clock, maxPauseMs: 3_600_000 });
    limiter.observe(429, { 'retry-after': '3600' }, 'claude-sonnet-4-5');
    const p = new ScriptedProvider();
    const lm = new ManagedLM(p, { clock, limiter, budget: { maxWallMs: 5000 }, logger: quiet() });
    const outcome = settle(lm.generate(msgs('q')));
    await clock.advance(5000, flush);
    expect(await outcome).toMatchObject({ name: 'BudgetExceededError', kind: 'wall' });
    expect(p.calls).toBe(0);
    expect(lm.usage.snapshot()).toMatchObject({ calls: 0, sent: 0, aborted: 0 });
    expect(limiter.queued).toBe(0);
  });

  it("a 429's retry-after pauses only the model it was for", async () => {
    const clock = new FakeClock(0);
    const limiter = new RateLimiter({ clock });
    limiter.observe(429, { 'retry-after': '3600' }, 'model-a');
    const a = new ManagedLM(new ScriptedProvider('model-a'), { clock, limiter, logger: quiet() });
    const b = new ManagedLM(new ScriptedProvider('model-b'), { clock, limiter, logger: quiet() });
    const first = settle(a.generate(msgs('q')));
    // model-b is served at once although model-a's request is ahead of it in the queue.
    await expect(b.generate(msgs('q'))).resolves.toMatchObject({ text: 'answer 1' });
    let aDone = false;
    void first.then(() => (aDone = true));
    await flush();
    expect(aDone).toBe(false);
    // model-a waits for its pause (capped by maxPauseMs, default 5 min), then goes.
    await clock.advance(300_000, flush);
    expect(await first).toBe('resolved');
  });
});

describe('aborted calls are metered', () => {
  it('a call cancelled mid-request counts toward maxCalls, sent and aborted', async () => {
    const p = new StuckProvider();
    const lm = new ManagedLM(p, { budget: { maxCalls: 1 }, logger: quiet() });
    const ac = new AbortController();
    const outcome = settle(lm.generate(msgs('hello there'), { signal: ac.signal }));
    await flush();
    expect(p.calls).toBe(1);
    ac.abort(new Error('user cancelled'));
    expect(await outcome).toMatchObject({ name: 'LMError', kind: 'aborted' });
    expect(lm.usage.snapshot()).toMatchObject({ calls: 1, sent: 1, aborted: 1, outputTokens: 0 });
    expect(lm.usage.snapshot().costUsd).toBeGreaterThan(0);
    // The budget saw it: the one allowed call is spent.
    await expect(lm.generate(msgs('again'))).rejects.toMatchObject({ name: 'BudgetExceededError', kind: 'calls' });
  });

  it('a call cancelled while waiting for the rate limiter was never sent: not counted', async () => {
    const limiter = new RateLimiter({ maxConcurrent: 1 });
    const release = await limiter.acquire();
    const p = new ScriptedProvider();
    const lm = new ManagedLM(p, { limiter, logger: quiet() });
    const ac = new AbortController();
    const outcome = settle(lm.generate(msgs('q'), { signal: ac.signal }));
    await flush();
    ac.abort();
    expect(await outcome).toMatchObject({ kind: 'aborted' });
    release();
    expect(p.calls).toBe(0);
    expect(lm.usage.snapshot()).toMatchObject({ calls: 0, sent: 0, aborted: 0 });
  });
});
