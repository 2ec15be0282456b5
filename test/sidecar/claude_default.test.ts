import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ROOT } from '../support/build.js';
import { FakeAnthropic, reply } from '../support/fake_anthropic.js';
import { FakeElixir, serveReferenceExecutions } from '../support/fake_elixir.js';

// The README's promise: with ANTHROPIC_API_KEY set and no LM named, the same optimization uses
// Claude (through the real SDK, here pointed at a loopback fake of the Messages API), with its
// cost counted and a USD budget enforced.
const KEY = 'sk-ant-test-default-claude';
let fake: FakeAnthropic;
let elixir: FakeElixir;

beforeEach(async () => {
  let n = 0;
  fake = await FakeAnthropic.start({
    fallback: () => {
      n += 1;
      const severity = ['low', 'medium', 'high'][n % 3];
      return reply.ok(JSON.stringify({ findings: ['f'], recommendations: ['r'], severity }), { input: 1000, output: 100 });
    },
  });
  elixir = serveReferenceExecutions(
    new FakeElixir({ ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: fake.baseURL, ELEXIRION_LM: '' }),
  );
  await elixir.initialize();
});

afterEach(async () => {
  await elixir.close();
  await fake.close();
});

const params = (extra: Record<string, unknown> = {}) => ({
  pipeline: { path: join(ROOT, 'examples/code_analysis/pipeline.yaml') },
  trainingData: { dir: join(ROOT, 'examples/code_analysis/training_data') },
  seed: 5,
  outDir: mkdtempSync(join(tmpdir(), 'elexirion-claude-')),
  ...extra,
});

describe('with ANTHROPIC_API_KEY set and no LM named', () => {
  it('optimizes with Claude, counting tokens and cost', async () => {
    const r = await elixir.request('optimize', params());
    expect(r.error).toBeUndefined();
    expect(fake.messageRequests.length).toBeGreaterThan(0);
    expect(fake.messageRequests.every((q) => (q.body as { model: string }).model === 'claude-sonnet-4-6')).toBe(true);
    expect(r.result.usage.inputTokens).toBeGreaterThan(0);
    expect(r.result.usage.costUsd).toBeGreaterThan(0);
    expect(elixir.stderr).not.toContain(KEY);
  });

  it('stops at a USD budget with the best program so far', async () => {
    // 1000 in + 100 out tokens at $3/$15 per MTok = $0.0045 a call: $0.04 covers the baseline
    // (6 held-out examples, $0.027) and runs out during bootstrapping.
    const r = await elixir.request('optimize', params({ budget: { maxUsd: 0.04 }, concurrency: 1 }));
    expect(r.error).toBeUndefined();
    expect(r.result.cutShort).toBe(true);
    expect(r.result.cutShortReason).toMatch(/budget/);
    // checked before each call, accounted after: at most one call (one in flight) over the cap
    expect(r.result.usage.costUsd).toBeLessThanOrEqual(0.04 + 0.0045 + 1e-9);
    expect(fake.messageRequests.length).toBe(r.result.usage.calls - r.result.usage.cacheHits);
  });
});
