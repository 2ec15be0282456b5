import { describe, expect, it } from 'vitest';
import { BudgetExceededError } from '../../src/lm/budget.js';
import { createCache } from '../../src/lm/cache.js';
import { LMError } from '../../src/lm/errors.js';
import { ManagedLM } from '../../src/lm/managed.js';
import { Meter, currentMeter, runWithMeter } from '../../src/lm/meter.js';
import { UsageTracker } from '../../src/lm/usage.js';
import { ScriptedProvider, captureLogger, msgs } from './helpers.js';

const quiet = () => captureLogger().logger;

async function budgetError(p: Promise<unknown>): Promise<BudgetExceededError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(BudgetExceededError);
  return e as BudgetExceededError;
}

describe('budgets', () => {
  it('maxCalls 5 makes exactly 5 provider calls; the 6th throws before calling', async () => {
    const p = new ScriptedProvider();
    const lm = new ManagedLM(p, { budget: { maxCalls: 5 }, logger: quiet() });
    for (let i = 0; i < 5; i++) await lm.generate(msgs(`q${i}`));
    const e = await budgetError(lm.generate(msgs('q5')));
    expect(e).toMatchObject({ kind: 'calls', limit: 5, used: 5 });
    expect(p.calls).toBe(5);
  });

  it('reserves call slots before awaiting: 16 concurrent calls under maxCalls 5 make exactly 5', async () => {
    const p = new ScriptedProvider('m', { delayMs: 5 });
    const lm = new ManagedLM(p, { logger: quiet() });
    const meter = new Meter({ budget: { maxCalls: 5 } });
    const results = await runWithMeter(meter, () =>
      Promise.allSettled(Array.from({ length: 16 }, (_, i) => lm.generate(msgs(`q${i}`)))),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(rejected).toHaveLength(11);
    for (const r of rejected) expect(r.reason).toMatchObject({ name: 'BudgetExceededError', kind: 'calls' });
    expect(p.calls).toBe(5);
    expect(meter.usage.snapshot().calls).toBe(5);
  });

  it('a call that failed at the provider still takes its slot (the provider may bill it)', async () => {
    const p = new ScriptedProvider('m', { fail: (n) => (n === 1 ? new Error('boom') : undefined) });
    const lm = new ManagedLM(p, { budget: { maxCalls: 1 }, logger: quiet() });
    await expect(lm.generate(msgs('a'))).rejects.toThrow('boom');
    await budgetError(lm.generate(msgs('a')));
    expect(lm.usage.snapshot()).toMatchObject({ calls: 1, sent: 1, aborted: 0 });
  });

  it('a call refused before anything was sent gives its slot back', async () => {
    const p = new ScriptedProvider('m', {
      fail: (n) => (n === 1 ? new LMError('no recording', { kind: 'cassette_miss', provider: 'cassette' }) : undefined),
    });
    const lm = new ManagedLM(p, { budget: { maxCalls: 1 }, logger: quiet() });
    await expect(lm.generate(msgs('a'))).rejects.toMatchObject({ kind: 'cassette_miss' });
    await expect(lm.generate(msgs('a'))).resolves.toMatchObject({ text: 'answer 2' });
    expect(lm.usage.snapshot()).toMatchObject({ calls: 1, sent: 1 });
  });

  it('cache hits are free: they take no call slot', async () => {
    const p = new ScriptedProvider();
    const lm = new ManagedLM(p, { cache: createCache(), budget: { maxCalls: 1 }, logger: quiet() });
    await lm.generate(msgs('same'));
    await expect(lm.generate(msgs('same'))).resolves.toMatchObject({ cached: true });
    await budgetError(lm.generate(msgs('other')));
    expect(p.calls).toBe(1);
  });

  it('refuses, before any call, a USD budget on a model it cannot price', async () => {
    const p = new ScriptedProvider('some-unpriced-model');
    const lm = new ManagedLM(p, { logger: quiet() });
    const capped = runWithMeter(new Meter({ budget: { maxUsd: 1 } }), () => lm.generate(msgs('q')));
    await expect(capped).rejects.toMatchObject({ name: 'LMError', kind: 'config' });
    expect(p.calls).toBe(0);
    // Without a USD cap the same model is usable (counted at $0, with a warning).
    await lm.generate(msgs('q'));
    expect(p.calls).toBe(1);
  });

  it('maxTokens and maxUsd stop once reached (checked before, accounted after)', async () => {
    const p = new ScriptedProvider('claude-haiku-4-5', { usage: { inputTokens: 8, outputTokens: 2 } });
    const lm = new ManagedLM(p, { budget: { maxTokens: 25 }, logger: quiet() });
    for (let i = 0; i < 3; i++) await lm.generate(msgs(`q${i}`)); // 0, 10, 20 < 25
    expect(await budgetError(lm.generate(msgs('q3')))).toMatchObject({ kind: 'tokens', limit: 25, used: 30 });

    // claude-haiku-4-5 at $1/$5 per MTok: 1M in + 0 out = $1 per call.
    const big = new ScriptedProvider('claude-haiku-4-5', { usage: { inputTokens: 1_000_000, outputTokens: 0 } });
    const lm2 = new ManagedLM(big, { budget: { maxUsd: 2 }, logger: quiet() });
    await lm2.generate(msgs('a'));
    await lm2.generate(msgs('b'));
    const e = await budgetError(lm2.generate(msgs('c')));
    expect(e.kind).toBe('usd');
    expect(e.used).toBeCloseTo(2, 9);
    expect(big.calls).toBe(2);
  });

  it('maxWallMs counts from the meter start and also stops cache hits', async () => {
    let now = 1_000;
    const p = new ScriptedProvider();
    const lm = new ManagedLM(p, { cache: createCache(), logger: quiet() });
    const meter = new Meter({ budget: { maxWallMs: 100 }, now: () => now });
    await runWithMeter(meter, () => lm.generate(msgs('a')));
    now += 100;
    const e = await budgetError(runWithMeter(meter, () => lm.generate(msgs('a'))));
    expect(e).toMatchObject({ kind: 'wall', limit: 100, used: 100 });
  });
});

describe('meter context', () => {
  it('records into the LM tracker and the current meter; concurrent runs never mix', async () => {
    const shared = new UsageTracker();
    const lm = new ManagedLM(new ScriptedProvider('m', { delayMs: 2, usage: { inputTokens: 10, outputTokens: 1 } }), {
      usage: shared,
      logger: quiet(),
    });
    const m1 = new Meter();
    const m2 = new Meter();
    await Promise.all([
      runWithMeter(m1, async () => {
        for (let i = 0; i < 3; i++) await lm.generate(msgs(`a${i}`));
        expect(currentMeter()).toBe(m1);
      }),
      runWithMeter(m2, async () => {
        await lm.generate(msgs('b'));
        expect(currentMeter()).toBe(m2);
      }),
    ]);
    expect(m1.usage.snapshot()).toMatchObject({ calls: 3, inputTokens: 30, outputTokens: 3 });
    expect(m2.usage.snapshot()).toMatchObject({ calls: 1, inputTokens: 10 });
    expect(shared.snapshot()).toMatchObject({ calls: 4, inputTokens: 40 });
    expect(currentMeter()).toBeUndefined();
    // Outside any meter, only the LM's own tracker counts.
    await lm.generate(msgs('c'));
    expect(shared.snapshot().calls).toBe(5);
    expect(m1.usage.snapshot().calls).toBe(3);
  });
});

describe('UsageTracker', () => {
  it('splits by model, counts cache hits without tokens or cost', () => {
    const u = new UsageTracker();
    u.record({ model: 'a', inputTokens: 10, outputTokens: 2, cached: false, costUsd: 0.5 });
    u.record({ model: 'a', inputTokens: 10, outputTokens: 2, cached: true, costUsd: 0 });
    u.record({ model: 'b', inputTokens: 1, outputTokens: 1, cached: false, costUsd: 0.25 });
    expect(u.snapshot()).toEqual({
      calls: 3,
      cacheHits: 1,
      sent: 2,
      aborted: 0,
      inputTokens: 11,
      outputTokens: 3,
      costUsd: 0.75,
      byModel: {
        a: { calls: 2, cacheHits: 1, sent: 1, aborted: 0, inputTokens: 10, outputTokens: 2, costUsd: 0.5 },
        b: { calls: 1, cacheHits: 0, sent: 1, aborted: 0, inputTokens: 1, outputTokens: 1, costUsd: 0.25 },
      },
    });
  });
});

describe('nested meters', () => {
  it('an outer meter still counts and caps calls made inside an inner one', async () => {
    const p = new ScriptedProvider();
    const lm = new ManagedLM(p, { logger: quiet() });
    const outer = new Meter({ budget: { maxCalls: 3 } });
    const inner = new Meter({ budget: { maxCalls: 10 } });
    await runWithMeter(outer, async () => {
      await lm.generate(msgs('o1'));
      await runWithMeter(inner, async () => {
        expect(currentMeter()).toBe(inner);
        await lm.generate(msgs('i1'));
        await lm.generate(msgs('i2'));
        const e = await budgetError(lm.generate(msgs('i3')));
        expect(e).toMatchObject({ kind: 'calls', limit: 3 });
      });
    });
    expect(outer.usage.snapshot().calls).toBe(3);
    expect(inner.usage.snapshot().calls).toBe(2);
    expect(p.calls).toBe(3);
    // Re-entering the same meter does not count a call twice.
    await runWithMeter(inner, () => runWithMeter(inner, () => lm.generate(msgs('x'))));
    expect(inner.usage.snapshot().calls).toBe(3);
  });
});
