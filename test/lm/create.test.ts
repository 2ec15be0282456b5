import { describe, expect, it } from 'vitest';
import { createLM } from '../../src/lm_factory/create.js';
import { Meter, runWithMeter } from '../../src/lm/meter.js';
import { UsageTracker } from '../../src/lm/usage.js';
import { captureLogger, msgs } from './helpers.js';

describe('createLM offline specs', () => {
  it('"offline" is the free follow-the-demos dummy: counted, never priced, never warned about', async () => {
    const { logger, lines } = captureLogger();
    const usage = new UsageTracker();
    const lm = createLM('offline', { logger, usage });
    expect(lm.provider).toBe('dummy');
    const demo = [
      { role: 'system' as const, content: 'Your input fields are:\n1. `q` (str)\nYour output fields are:\n1. `a` (str)' },
      { role: 'user' as const, content: '[[ ## q ## ]]\nping' },
      { role: 'assistant' as const, content: '[[ ## a ## ]]\npong\n\n[[ ## completed ## ]]' },
      { role: 'user' as const, content: '[[ ## q ## ]]\nping' },
    ];
    const meter = new Meter({ budget: { maxCalls: 2 } });
    const res = await runWithMeter(meter, () => lm.generate(demo));
    expect(res).toMatchObject({ text: '[[ ## a ## ]]\npong\n\n[[ ## completed ## ]]', cached: false, costUsd: 0 });
    expect(usage.snapshot().calls).toBe(1);
    expect(meter.usage.snapshot().calls).toBe(1);
    expect(lines.some((l) => l.includes('no price'))).toBe(false);
  });

  it('"dummy" with ordered answers is not cached: identical prompts get successive answers', async () => {
    const lm = createLM('dummy', { dummy: { answers: ['first', 'second'] }, logger: captureLogger().logger });
    expect((await lm.generate(msgs('same'))).text).toBe('first');
    expect((await lm.generate(msgs('same'))).text).toBe('second');
  });

  it('applies its own budget', async () => {
    const lm = createLM('offline', { budget: { maxCalls: 1 }, logger: captureLogger().logger });
    await lm.generate(msgs('a'));
    await expect(lm.generate(msgs('b'))).rejects.toMatchObject({ name: 'BudgetExceededError', kind: 'calls' });
  });
});

describe('LMRegistry', () => {
  it('reuses one LM per spec (equivalent spellings included) and shares one tracker', async () => {
    const { LMRegistry } = await import('../../src/lm_factory/registry.js');
    const reg = new LMRegistry({ logger: captureLogger().logger });
    const a = reg.get('offline');
    expect(reg.get({ kind: 'dummy', mode: 'follow-demos' })).toBe(a);
    const b = reg.get('dummy');
    expect(b).not.toBe(a);
    await a.generate(msgs('x'));
    await b.generate(msgs('y'));
    expect(reg.usage.snapshot().calls).toBe(2);
    expect(reg.specs()).toEqual(['offline', 'dummy']);
    expect(() => reg.get('nope:x')).toThrow(/accepted/);
  });
});
