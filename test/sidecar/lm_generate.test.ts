import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeAnthropic, reply } from '../support/fake_anthropic.js';
import { ensureBuilt } from '../support/build.js';
import { SidecarProcess } from '../support/sidecar_process.js';

// `lm/generate` end to end: the real sidecar process, the real @anthropic-ai/sdk inside it,
// pointed at a loopback fake of the Messages API.
const KEY = 'sk-ant-test-SECRET-4242';

let fake: FakeAnthropic;
let sidecar: SidecarProcess;
let nextId = 1;

async function call(params: Record<string, unknown>): Promise<{ result?: any; error?: any }> {
  return (await sidecar.request({ jsonrpc: '2.0', id: nextId++, method: 'lm/generate', params })) as any;
}

beforeAll(async () => {
  ensureBuilt();
  fake = await FakeAnthropic.start();
  sidecar = new SidecarProcess('packet4', ['--log-level', 'debug'], {
    ANTHROPIC_API_KEY: KEY,
    ANTHROPIC_BASE_URL: fake.baseURL,
    ELEXIRION_LM_CACHE_DIR: '',
  });
  await sidecar.initialize('1.0');
});

afterAll(async () => {
  await sidecar?.close();
  await fake?.close();
});

describe('lm/generate', () => {
  it('calls Claude through the SDK and reports text, usage and cost', async () => {
    fake.enqueue(reply.ok('Paris', { input: 20, output: 2 }));
    const r = await call({
      lm: 'anthropic:claude-haiku-4-5',
      messages: [
        { role: 'system', content: 'Answer in one word.' },
        { role: 'user', content: 'Capital of France?' },
      ],
      options: { temperature: 0, maxTokens: 16 },
    });
    expect(r.error).toBeUndefined();
    expect(r.result).toMatchObject({ text: 'Paris', usage: { inputTokens: 20, outputTokens: 2 }, cached: false });
    expect(r.result.costUsd).toBeGreaterThan(0);
    const sent = fake.messageRequests.at(-1)!;
    expect(sent.body).toMatchObject({ model: 'claude-haiku-4-5', system: 'Answer in one word.', max_tokens: 16 });
  });

  it('serves a repeated request from the cache at no cost', async () => {
    const params = { lm: 'anthropic:claude-haiku-4-5', messages: [{ role: 'user', content: 'cache me' }] };
    fake.enqueue(reply.ok('first', { input: 5, output: 1 }));
    const before = fake.messageRequests.length;
    const a = await call(params);
    const b = await call(params);
    expect(a.result).toMatchObject({ text: 'first', cached: false });
    expect(b.result).toMatchObject({ text: 'first', cached: true, costUsd: 0 });
    expect(fake.messageRequests.length - before).toBe(1);
  });

  it('retries a 429 as the SDK documents, then succeeds', async () => {
    fake.enqueue(reply.rateLimited({ retryAfterMs: 10 }), reply.ok('after retry', { input: 3, output: 2 }));
    const before = fake.messageRequests.length;
    const r = await call({ lm: 'anthropic:claude-haiku-4-5', messages: [{ role: 'user', content: 'retry me' }] });
    expect(r.result?.text).toBe('after retry');
    expect(fake.messageRequests.length - before).toBe(2);
  });

  it('answers a provider failure with LMFailed (-32011) naming its kind', async () => {
    fake.enqueue(reply.serverError(), reply.serverError(), reply.serverError(), reply.serverError());
    const r = await call({
      lm: 'anthropic:claude-haiku-4-5',
      messages: [{ role: 'user', content: 'fail me' }],
    });
    expect(r.error).toMatchObject({ code: -32011, data: { kind: 'server', provider: 'anthropic' } });
  });

  it('refuses a malformed LM spec as invalid params', async () => {
    const r = await call({ lm: 'nonsense:thing', messages: [{ role: 'user', content: 'x' }] });
    expect(r.error).toMatchObject({ code: -32602, data: { field: 'lm' } });
  });

  it('uses the offline LM when asked, with no network', async () => {
    const r = await call({ lm: 'offline', messages: [{ role: 'user', content: 'hello' }] });
    expect(r.error).toBeUndefined();
    expect(typeof r.result.text).toBe('string');
  });

  it('never writes the API key to its logs', () => {
    expect(sidecar.stderr.length).toBeGreaterThan(0);
    expect(sidecar.stderr).not.toContain(KEY);
    expect(sidecar.stdoutProblems()).toEqual([]);
  });
});
