import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LMError } from '../../src/lm/errors.js';
import { OpenAICompatibleLM, type OpenAICompatibleLMOptions } from '../../src/lm/openai.js';
import { createLM } from '../../src/lm_factory/create.js';
import { RateLimiterRegistry } from '../../src/lm/rate_limiter.js';
import { FakeOpenAI } from './fake_openai.js';
import { captureLogger, msgs, waitFor } from './helpers.js';

let fake: FakeOpenAI;
beforeAll(async () => {
  fake = await FakeOpenAI.start();
});
afterAll(async () => {
  await fake.close();
});
afterEach(() => fake.reset());

const lm = (o: Partial<OpenAICompatibleLMOptions> = {}) =>
  new OpenAICompatibleLM({
    baseURL: fake.baseURL,
    model: 'llama3',
    retryBaseDelayMs: 1,
    timeoutMs: 2000,
    logger: captureLogger().logger,
    ...o,
  });

async function failure(p: Promise<unknown>): Promise<LMError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(LMError);
  return e as LMError;
}

describe('OpenAICompatibleLM against a fake chat-completions server', () => {
  it('posts model, messages and options; reads text and usage', async () => {
    fake.enqueue({ kind: 'ok', text: 'hi there', usage: { prompt: 12, completion: 4 } });
    const res = await lm({ apiKey: 'sk-local' }).generate(msgs('hello'), { temperature: 0, maxTokens: 64, stop: ['END'] });
    expect(res).toEqual({ text: 'hi there', usage: { inputTokens: 12, outputTokens: 4 }, model: 'llama3', cached: false, costUsd: 0 });
    const [r] = fake.requests;
    expect(r!.body).toEqual({
      model: 'llama3',
      messages: msgs('hello'),
      temperature: 0,
      max_tokens: 64,
      stop: ['END'],
    });
    expect(r!.headers['authorization']).toBe('Bearer sk-local');
  });

  it('sends no Authorization header without a key; missing usage counts as 0', async () => {
    const saved = process.env['OPENAI_API_KEY'];
    delete process.env['OPENAI_API_KEY'];
    try {
      fake.enqueue({ kind: 'ok', text: 'x', usage: null });
      const res = await lm().generate(msgs('q'));
      expect(res.usage).toEqual({ inputTokens: 0, outputTokens: 0 });
      expect(fake.requests[0]!.headers['authorization']).toBeUndefined();
    } finally {
      if (saved !== undefined) process.env['OPENAI_API_KEY'] = saved;
    }
  });

  it('retries 429 honouring retry-after, then succeeds', async () => {
    fake.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '0.05' } }, { kind: 'ok', text: 'late' });
    const t0 = Date.now();
    expect((await lm().generate(msgs('q'))).text).toBe('late');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    expect(fake.requests).toHaveLength(2);
  });

  it('does not sit out a retry-after of an hour: the call ends at once, saying how long the server asked', async () => {
    fake.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '3600' } }, { kind: 'ok', text: 'too late' });
    const started = Date.now();
    const e = await failure(lm({ maxRetries: 2 }).generate(msgs('q')));
    expect(e).toMatchObject({ kind: 'rate_limited', status: 429, retryAfterMs: 3_600_000 });
    expect(fake.requests).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(30_000);
    fake.reset();
  });

  it('reports each request it sends, retries included, to the call\'s observer', async () => {
    fake.enqueue({ kind: 'status', status: 500 }, { kind: 'ok', text: 'fine' });
    const seen: boolean[] = [];
    let started = 0;
    const res = await lm({ retryBaseDelayMs: 1 }).generate(msgs('q'), {
      requests: { onStart: () => (started += 1), onEnd: (aborted) => seen.push(aborted) },
    });
    expect(res.text).toBe('fine');
    expect(started).toBe(2);
    expect(seen).toEqual([false, false]);
  });

  it('gives typed errors after retries: 5xx -> server, 429 -> rate_limited; 400 is not retried', async () => {
    fake.enqueue({ kind: 'status', status: 500 }, { kind: 'status', status: 502 }, { kind: 'status', status: 500 });
    expect(await failure(lm({ maxRetries: 2 }).generate(msgs('q')))).toMatchObject({ kind: 'server', status: 500 });
    expect(fake.requests).toHaveLength(3);
    fake.reset();
    fake.enqueue({ kind: 'status', status: 429 }, { kind: 'status', status: 429 });
    expect(await failure(lm({ maxRetries: 1 }).generate(msgs('q')))).toMatchObject({ kind: 'rate_limited', status: 429 });
    fake.reset();
    fake.enqueue({ kind: 'status', status: 400 });
    expect(await failure(lm().generate(msgs('q')))).toMatchObject({ kind: 'bad_request', retryable: false });
    expect(fake.requests).toHaveLength(1);
  });

  it('rejects a malformed body without retrying', async () => {
    fake.enqueue({ kind: 'raw', body: '{"choices": "nope"}' });
    expect((await failure(lm().generate(msgs('q')))).kind).toBe('malformed_response');
    fake.enqueue({ kind: 'raw', body: 'not json' });
    expect((await failure(lm().generate(msgs('q')))).kind).toBe('malformed_response');
    expect(fake.requests).toHaveLength(2);
  });

  it('times out a hung request', async () => {
    fake.enqueue({ kind: 'hang' });
    const e = await failure(lm({ maxRetries: 0 }).generate(msgs('q'), { timeoutMs: 100 }));
    expect(e.kind).toBe('timeout');
  });

  it('maps a caller abort to aborted', async () => {
    fake.enqueue({ kind: 'hang' });
    const ac = new AbortController();
    // Abort once the server holds the request, so no late request can eat the next test's script.
    void waitFor(() => fake.requests.length === 1).then(() => ac.abort());
    expect((await failure(lm().generate(msgs('q'), { signal: ac.signal }))).kind).toBe('aborted');
  });

  it('works through createLM("openai:URL#MODEL") and pauses its limiter on x-ratelimit headers', async () => {
    fake.enqueue({ kind: 'status', status: 429, headers: { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '20ms' } }, { kind: 'ok', text: 'fine' });
    const registry = new RateLimiterRegistry();
    const m = createLM(`openai:${fake.baseURL}#llama3`, {
      openai: { retryBaseDelayMs: 1 },
      logger: captureLogger().logger,
      limiterRegistry: registry,
      prices: { llama3: { inputPerMTok: 0, outputPerMTok: 0 } },
    });
    const before = Date.now();
    const res = await m.generate(msgs('q'));
    expect(res.text).toBe('fine');
    expect(m.limiter!.pausedUntilFor('llama3')).toBeGreaterThanOrEqual(before + 20);
    expect(m.limiter!.pausedUntilFor('another-model')).toBeLessThan(before);
    // One call, two requests reached the server (the 429 and its retry): both are counted.
    expect(m.usage.snapshot()).toMatchObject({ calls: 1, sent: 2, aborted: 0 });
    expect(fake.requests).toHaveLength(2);
  });
});

describe('credentials in server answers', () => {
  it('scrubs a key a server echoes back from the error and the logs', async () => {
    const key = 'sk-proj-ECHOED-0123456789abcdef';
    fake.enqueue({ kind: 'status', status: 401, body: JSON.stringify({ error: { message: `Incorrect API key provided: ${key}` } }) });
    const { logger, lines } = captureLogger('debug');
    const m = createLM(`openai:${fake.baseURL}#llama3`, { apiKey: key, logger, limiterRegistry: new RateLimiterRegistry() });
    const e = await failure(m.generate(msgs('q')));
    expect(e.kind).toBe('auth');
    expect(e.message).toContain('Incorrect API key provided');
    expect(e.message).not.toContain(key);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('\n')).not.toContain(key);
  });
});
