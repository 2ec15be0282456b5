/** Both loopback fakes for a suite, with LMs pointed at them (real Anthropic SDK; our OpenAI-compatible client). */
import { afterAll, afterEach, beforeAll } from 'vitest';
import { AnthropicLM } from '../../src/lm/anthropic.js';
import { OpenAICompatibleLM } from '../../src/lm/openai.js';
import { FakeAnthropic } from '../support/fake_anthropic.js';
import { FakeOpenAI } from './fake_openai.js';
import { captureLogger } from './helpers.js';

export interface FakeServers {
  readonly anthropic: FakeAnthropic;
  readonly openai: FakeOpenAI;
  /** An AnthropicLM (model claude-haiku-4-5) on the fake, no retries. */
  claude(): AnthropicLM;
  /** An OpenAICompatibleLM (model llama3) on the fake, no retries. */
  local(): OpenAICompatibleLM;
}

/** Starts both fakes for the calling suite (reset after each test, closed after all). */
export function useFakeServers(): FakeServers {
  let anthropic: FakeAnthropic | undefined;
  let openai: FakeOpenAI | undefined;
  beforeAll(async () => {
    anthropic = await FakeAnthropic.start();
    openai = await FakeOpenAI.start();
  });
  afterAll(async () => {
    await anthropic?.close();
    await openai?.close();
  });
  afterEach(() => {
    anthropic?.reset();
    openai?.reset();
  });
  return {
    get anthropic() {
      return anthropic!;
    },
    get openai() {
      return openai!;
    },
    claude: () =>
      new AnthropicLM({ model: 'claude-haiku-4-5', apiKey: 'k', baseURL: anthropic!.baseURL, timeoutMs: 3000, maxRetries: 0, logger: captureLogger().logger }),
    local: () =>
      new OpenAICompatibleLM({ baseURL: openai!.baseURL, model: 'llama3', timeoutMs: 3000, maxRetries: 0, retryBaseDelayMs: 1, logger: captureLogger().logger }),
  };
}
