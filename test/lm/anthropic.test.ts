import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicLM, type AnthropicLMOptions } from '../../src/lm/anthropic.js';
import { LMError } from '../../src/lm/errors.js';
import { createLM } from '../../src/lm_factory/create.js';
import { RateLimiterRegistry } from '../../src/lm/rate_limiter.js';
import { FakeAnthropic, reply } from '../support/fake_anthropic.js';
import { captureLogger, msgs, waitFor } from './helpers.js';

const KEY = 'sk-ant-api03-TESTKEY-do-not-log-7f3a9c';

let fake: FakeAnthropic;
beforeAll(async () => {
  fake = await FakeAnthropic.start();
});
afterAll(async () => {
  await fake.close();
});
afterEach(() => fake.reset());

function makeLM(o: Partial<AnthropicLMOptions> = {}, logger = captureLogger().logger) {
  return new AnthropicLM({
    model: 'claude-haiku-4-5',
    apiKey: KEY,
    baseURL: fake.baseURL,
    timeoutMs: 2000,
    logger,
    ...o,
  });
}

async function failure(p: Promise<unknown>): Promise<LMError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(LMError);
  return e as LMError;
}

describe('AnthropicLM against the fake Messages API (real SDK)', () => {
  it('sends system, turns and sampling options; reads text, usage and model', async () => {
    fake.enqueue(reply.ok('Paris', { input: 21, output: 2 }, { model: 'claude-haiku-4-5-20251001' }));
    const lm = makeLM({ maxTokens: 300 });
    const res = await lm.generate(
      [
        { role: 'system', content: 'Be brief.' },
        { role: 'system', content: 'Answer in one word.' },
        { role: 'user', content: 'Capital of France?' },
      ],
      { temperature: 0.2, stop: ['\n\n'] },
    );
    expect(res).toEqual({
      text: 'Paris',
      usage: { inputTokens: 21, outputTokens: 2 },
      model: 'claude-haiku-4-5-20251001',
      cached: false,
      costUsd: 0,
    });
    const [req] = fake.messageRequests;
    expect(req!.headers['anthropic-version']).toBeTruthy();
    expect(req!.body).toMatchObject({
      model: 'claude-haiku-4-5',
      max_tokens: 300,
      system: 'Be brief.\n\nAnswer in one word.',
      messages: [{ role: 'user', content: 'Capital of France?' }],
      temperature: 0.2,
      stop_sequences: ['\n\n'],
    });
  });

  it('retries a 429 after the retry-after delay, then succeeds', async () => {
    fake.enqueue(reply.rateLimited({ retryAfter: 0.05 }), reply.ok('done'));
    const t0 = Date.now();
    const res = await makeLM({ maxRetries: 2 }).generate(msgs('q'));
    expect(res.text).toBe('done');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    const reqs = fake.messageRequests;
    expect(reqs).toHaveLength(2);
    expect(reqs.map((r) => r.headers['x-stainless-retry-count'])).toEqual(['0', '1']);
  });

  it('gives up after maxRetries with a typed rate_limited error', async () => {
    fake.enqueue(
      reply.rateLimited({ retryAfterMs: 1 }),
      reply.rateLimited({ retryAfterMs: 1 }),
      reply.rateLimited({ retryAfterMs: 1, headers: { 'retry-after': '7' } }),
    );
    const e = await failure(makeLM({ maxRetries: 2 }).generate(msgs('q')));
    expect(e).toMatchObject({ kind: 'rate_limited', status: 429, retryable: true, provider: 'anthropic' });
    expect(e.retryAfterMs).toBe(1);
    expect(fake.messageRequests).toHaveLength(3);
  });

  it('maps 529 to overloaded and retries it', async () => {
    fake.enqueue(reply.overloaded({ retryAfterMs: 1 }), reply.ok('after overload'));
    expect((await makeLM().generate(msgs('q'))).text).toBe('after overload');
    expect(fake.messageRequests).toHaveLength(2);
    fake.reset();
    fake.enqueue(reply.overloaded());
    const e = await failure(makeLM({ maxRetries: 0 }).generate(msgs('q')));
    expect(e).toMatchObject({ kind: 'overloaded', status: 529, retryable: true });
    expect(fake.messageRequests).toHaveLength(1);
  });

  it('maps a persistent 500 to server after retrying', async () => {
    fake.enqueue(reply.serverError({ retryAfterMs: 1 }), reply.serverError({ retryAfterMs: 1 }));
    const e = await failure(makeLM({ maxRetries: 1 }).generate(msgs('q')));
    expect(e).toMatchObject({ kind: 'server', status: 500, retryable: true });
    expect(fake.messageRequests).toHaveLength(2);
  });

  it('does not retry a 401 and maps it to auth', async () => {
    fake.enqueue(reply.error(401, 'authentication_error', 'invalid x-api-key'));
    const e = await failure(makeLM().generate(msgs('q')));
    expect(e).toMatchObject({ kind: 'auth', status: 401, retryable: false });
    expect(fake.messageRequests).toHaveLength(1);
  });

  it('maps 400 to bad_request', async () => {
    fake.enqueue(reply.error(400, 'invalid_request_error', 'max_tokens: too large'));
    const e = await failure(makeLM().generate(msgs('q')));
    expect(e).toMatchObject({ kind: 'bad_request', status: 400, retryable: false });
    expect(e.message).toContain('max_tokens: too large');
  });

  it('turns a malformed body into malformed_response', async () => {
    fake.enqueue(reply.malformed());
    expect((await failure(makeLM().generate(msgs('q')))).kind).toBe('malformed_response');
    fake.enqueue(reply.malformed('{"id":"x","type":"message","role":"assistant","model":"m","content":"oops"}'));
    expect((await failure(makeLM().generate(msgs('q')))).kind).toBe('malformed_response');
    fake.enqueue(reply.malformed('<html>bad gateway</html>', 'text/html'));
    expect((await failure(makeLM().generate(msgs('q')))).kind).toBe('malformed_response');
  });

  it('times out a hung request with a typed timeout error', async () => {
    fake.enqueue(reply.hang());
    const t0 = Date.now();
    const e = await failure(makeLM({ maxRetries: 0 }).generate(msgs('q'), { timeoutMs: 150 }));
    expect(e).toMatchObject({ kind: 'timeout', retryable: true });
    expect(Date.now() - t0).toBeLessThan(1500);
  });

  it('maps a caller abort to aborted', async () => {
    fake.enqueue(reply.hang());
    const ac = new AbortController();
    // Abort once the server holds the request, so no late request can eat the next test's script.
    void waitFor(() => fake.messageRequests.length === 1).then(() => ac.abort());
    const e = await failure(makeLM({ maxRetries: 0 }).generate(msgs('q'), { signal: ac.signal }));
    expect(e.kind).toBe('aborted');
  });

  it('fails with auth before any request when no key is configured', async () => {
    const saved = process.env['ANTHROPIC_API_KEY'];
    delete process.env['ANTHROPIC_API_KEY'];
    try {
      const lm = new AnthropicLM({ model: 'claude-haiku-4-5', baseURL: fake.baseURL, logger: captureLogger().logger });
      expect((await failure(lm.generate(msgs('q')))).kind).toBe('auth');
      expect(fake.requests).toHaveLength(0);
    } finally {
      if (saved !== undefined) process.env['ANTHROPIC_API_KEY'] = saved;
    }
  });
});

describe('createLM("anthropic:...") end to end', () => {
  it('counts usage and cost, serves repeats from the cache', async () => {
    fake.enqueue(reply.ok('four', { input: 1000, output: 500 }));
    const { logger } = captureLogger();
    const lm = createLM('anthropic:claude-haiku-4-5', {
      apiKey: KEY,
      anthropic: { baseURL: fake.baseURL },
      logger,
      limiterRegistry: new RateLimiterRegistry(),
    });
    const a = await lm.generate(msgs('2+2?'));
    // claude-haiku-4-5: $1 / MTok in, $5 / MTok out.
    expect(a.costUsd).toBeCloseTo(0.001 + 0.0025, 10);
    const b = await lm.generate(msgs('2+2?'));
    expect(b).toMatchObject({ text: 'four', cached: true, costUsd: 0 });
    expect(fake.messageRequests).toHaveLength(1);
    expect(lm.usage.snapshot()).toMatchObject({
      calls: 2,
      cacheHits: 1,
      inputTokens: 1000,
      outputTokens: 500,
      costUsd: expect.closeTo(0.0035, 10),
      byModel: { 'claude-haiku-4-5': { calls: 2, cacheHits: 1 } },
    });
  });

  it('pauses the shared limiter after a 429 (retry-after seen on the retried attempt)', async () => {
    fake.enqueue(reply.rateLimited({ retryAfterMs: 30 }), reply.ok('ok'));
    const registry = new RateLimiterRegistry();
    const lm = createLM('anthropic:claude-haiku-4-5', {
      apiKey: KEY,
      anthropic: { baseURL: fake.baseURL },
      logger: captureLogger().logger,
      limiterRegistry: registry,
    });
    const before = Date.now();
    await lm.generate(msgs('q'));
    expect(lm.limiter).toBeDefined();
    // The pause holds back this model's requests, not every model on the endpoint.
    expect(lm.limiter!.pausedUntilFor(lm.model)).toBeGreaterThanOrEqual(before + 30);
    expect(lm.limiter!.pausedUntilFor('another-model')).toBeLessThan(before);
    // The SDK's own retry is a second request the provider received: counted as sent.
    expect(fake.messageRequests).toHaveLength(2);
    expect(lm.usage.snapshot()).toMatchObject({ calls: 1, sent: 2, aborted: 0 });
  });

  it('never writes the API key to a log line, even at debug level on a failing call', async () => {
    fake.enqueue(
      reply.serverError({ retryAfterMs: 1 }),
      reply.error(401, 'authentication_error', 'invalid x-api-key'),
    );
    const { logger, lines } = captureLogger('debug');
    const lm = createLM('anthropic:claude-haiku-4-5', {
      apiKey: KEY,
      anthropic: { baseURL: fake.baseURL, sdkLogLevel: 'debug' },
      logger,
      limiterRegistry: new RateLimiterRegistry(),
    });
    await expect(lm.generate(msgs('q'))).rejects.toMatchObject({ kind: 'auth' });
    // The logs did record the failure (so the assertion below is not vacuous)...
    expect(lines.some((l) => l.includes('lm call failed'))).toBe(true);
    expect(lines.some((l) => /authorization/i.test(l))).toBe(true);
    // ...and the key appears nowhere, nor any tail of it.
    const all = lines.join('\n');
    expect(all).not.toContain(KEY);
    expect(all).not.toContain('TESTKEY');
  });
});
