import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeAnthropic } from '../support/fake_anthropic.js';

// The fake must reject what the real API rejects, or the provider tests prove less than they claim.
describe('FakeAnthropic', () => {
  let fake: FakeAnthropic;
  beforeAll(async () => {
    fake = await FakeAnthropic.start();
  });
  afterAll(async () => {
    await fake.close();
  });

  const body = JSON.stringify({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
  const post = (headers: Record<string, string>, b = body) =>
    fetch(`${fake.baseURL}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: b });

  it('requires anthropic-version and a credential, and a well-formed body', async () => {
    expect((await post({ 'x-api-key': 'k' })).status).toBe(400);
    const noKey = await post({ 'anthropic-version': '2023-06-01' });
    expect(noKey.status).toBe(401);
    expect(await noKey.json()).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    expect((await post({ 'anthropic-version': '2023-06-01', 'x-api-key': 'k' }, '{"model":"m"}')).status).toBe(400);
    const ok = await post({ 'anthropic-version': '2023-06-01', authorization: 'Bearer k' });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'm',
      content: [{ type: 'text', text: 'ok' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 10, output_tokens: 5 },
    });
    expect(fake.messageRequests).toHaveLength(4);
  });
});
