/**
 * Issue #12 item 5, end to end over loopback HTTP: a provider that answers every request with
 * 429 and `retry-after: 3600` cannot hold a run with a 5 s wall budget past its deadline, and
 * the calls it received are all in the run's usage.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settings } from '../../src/dspy/index.js';
import { createLM } from '../../src/lm_factory/create.js';
import { RateLimiterRegistry } from '../../src/lm/rate_limiter.js';
import { BootstrapFewShot } from '../../src/optimizers/index.js';
import { FakeOpenAI } from '../lm/fake_openai.js';
import { captureLogger } from '../lm/helpers.js';
import { QA, exact, qa } from './helpers.js';

let fake: FakeOpenAI;
beforeAll(async () => {
  fake = await FakeOpenAI.start();
});
afterAll(async () => {
  await fake.close();
});

describe('wall-clock budget against a one-hour retry-after', () => {
  it('a 5 s budget ends the run at its deadline with the best so far', async () => {
    for (let i = 0; i < 50; i++) fake.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '3600' } });
    const registry = new RateLimiterRegistry();
    const lm = createLM(`openai:${fake.baseURL}#slow-model`, {
      limiterRegistry: registry,
      logger: captureLogger().logger,
      prices: { 'slow-model': { inputPerMTok: 1, outputPerMTok: 1 } },
    });
    // Another model on the same endpoint is not held back by slow-model's 429.
    const other = createLM(`openai:${fake.baseURL}#other-model`, { limiterRegistry: registry, logger: captureLogger().logger });

    const started = Date.now();
    const run = settings.context({ lm }, () =>
      new BootstrapFewShot({ maxBootstrappedDemos: 2, maxLabeledDemos: 0 }).compile(new QA(), {
        trainset: qa(20),
        metric: exact,
        concurrency: 2,
        budget: { maxWallMs: 5000 },
        seed: 0,
      }),
    );
    // Once both examples in flight met their 429, the run waits out slow-model's pause (no
    // request of it can arrive now); meanwhile other-model's requests go through.
    while (fake.requests.length < 2) await new Promise((r) => setTimeout(r, 10));
    fake.reset();
    await expect(other.generate([{ role: 'user', content: 'hi' }])).resolves.toMatchObject({ text: 'ok' });
    for (let i = 0; i < 50; i++) fake.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '3600' } });

    const { report } = await run;
    const elapsed = Date.now() - started;
    expect(report.cutShort).toBe(true);
    // Either the deadline cut the wait, or (since a retry-after past the client's 60 s cap is
    // not waited out) the run stopped on the provider's fault with the best so far: both end
    // the run cleanly, well before the hour.
    expect(report.cutShortReason).toMatch(/wall|provider: .*429/);
    expect(elapsed).toBeLessThan(6000);
    // The two 429s (one per example in flight) reached the provider: counted, never retried
    // after an hour.
    expect(report.usage.sent).toBe(2);
  }, 20_000);
});
