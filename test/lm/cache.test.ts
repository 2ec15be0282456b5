import { mkdtempSync, readdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AnthropicLM } from '../../src/lm/anthropic.js';
import { DiskCache, MemoryCache, createCache } from '../../src/lm/cache.js';
import { ManagedLM } from '../../src/lm/managed.js';
import { OpenAICompatibleLM } from '../../src/lm/openai.js';
import type { ChatMessage } from '../../src/lm/types.js';
import { ScriptedProvider, captureLogger } from './helpers.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'lm-cache-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const base: ChatMessage[] = [
  { role: 'system', content: 'Given the fields `question`, produce the fields `answer`.' },
  { role: 'user', content: '[[ ## question ## ]]\n2+2?' },
];
const withDemo: ChatMessage[] = [
  base[0]!,
  { role: 'user', content: '[[ ## question ## ]]\n1+1?' },
  { role: 'assistant', content: '[[ ## answer ## ]]\n2\n\n[[ ## completed ## ]]' },
  base[1]!,
];

describe('cache key', () => {
  const quiet = captureLogger().logger;
  const managed = (inner: ConstructorParameters<typeof ManagedLM>[0]) => new ManagedLM(inner, { logger: quiet });
  const anth = (model: string, apiKey: string) => managed(new AnthropicLM({ model, apiKey, logger: quiet }));

  it('changes with model, messages/demos and sampling options', () => {
    const lm = anth('claude-haiku-4-5', 'k1');
    const k = lm.cacheKey(base, {});
    expect(anth('claude-opus-4-1', 'k1').cacheKey(base, {})).not.toBe(k);
    expect(lm.cacheKey(withDemo, {})).not.toBe(k);
    expect(lm.cacheKey([base[0]!, { role: 'user', content: '[[ ## question ## ]]\n2+3?' }], {})).not.toBe(k);
    expect(lm.cacheKey(base, { temperature: 0.7 })).not.toBe(k);
    expect(lm.cacheKey(base, { maxTokens: 10 })).not.toBe(k);
    expect(lm.cacheKey(base, { stop: ['\n'] })).not.toBe(k);
    expect(lm.cacheKey(base, { rolloutId: 1 })).not.toBe(lm.cacheKey(base, { rolloutId: 2 }));
    // Roles matter, not just text.
    expect(lm.cacheKey([{ role: 'user', content: 'a' }])).not.toBe(lm.cacheKey([{ role: 'assistant', content: 'a' }]));
  });

  it('does not change with the API key, timeouts, signals or bypassCache', () => {
    const k = anth('claude-haiku-4-5', 'sk-ant-first').cacheKey(base, { temperature: 0 });
    expect(anth('claude-haiku-4-5', 'sk-ant-second').cacheKey(base, { temperature: 0 })).toBe(k);
    const lm = anth('claude-haiku-4-5', 'x');
    expect(lm.cacheKey(base, { temperature: 0, timeoutMs: 5, bypassCache: true, signal: new AbortController().signal })).toBe(k);
    const o1 = managed(new OpenAICompatibleLM({ baseURL: 'http://127.0.0.1:1/v1', model: 'm', apiKey: 'a', logger: quiet }));
    const o2 = managed(new OpenAICompatibleLM({ baseURL: 'http://127.0.0.1:1/v1', model: 'm', apiKey: 'b', logger: quiet }));
    expect(o1.cacheKey(base)).toBe(o2.cacheKey(base));
    // ...but the endpoint of an OpenAI-compatible server is part of it.
    const o3 = managed(new OpenAICompatibleLM({ baseURL: 'http://127.0.0.1:2/v1', model: 'm', logger: quiet }));
    expect(o3.cacheKey(base)).not.toBe(o1.cacheKey(base));
  });

  it('includes the sampling defaults the provider was configured with (they change completions)', () => {
    const plain = anth('claude-haiku-4-5', 'k');
    const short = managed(new AnthropicLM({ model: 'claude-haiku-4-5', apiKey: 'k', maxTokens: 256, logger: quiet }));
    const hot = managed(new AnthropicLM({ model: 'claude-haiku-4-5', apiKey: 'k', temperature: 1, logger: quiet }));
    expect(short.cacheKey(base)).not.toBe(plain.cacheKey(base));
    expect(hot.cacheKey(base)).not.toBe(plain.cacheKey(base));
    // A default is what the call would send anyway: same key as giving it explicitly.
    expect(short.cacheKey(base)).toBe(plain.cacheKey(base, { maxTokens: 256 }));
    // A call's own option wins over the default.
    expect(short.cacheKey(base, { maxTokens: 10 })).toBe(plain.cacheKey(base, { maxTokens: 10 }));
    const o = (extra: { maxTokens?: number; stop?: string[] }) =>
      managed(new OpenAICompatibleLM({ baseURL: 'http://127.0.0.1:1/v1', model: 'm', logger: quiet, ...extra }));
    expect(o({ maxTokens: 64 }).cacheKey(base)).not.toBe(o({}).cacheKey(base));
    expect(o({ stop: ['###'] }).cacheKey(base)).not.toBe(o({}).cacheKey(base));
  });
});

describe('ManagedLM with a cache', () => {
  it('serves a repeat from the cache (cached, free), and a new rolloutId or bypassCache calls again', async () => {
    const p = new ScriptedProvider('claude-haiku-4-5', { usage: { inputTokens: 1000, outputTokens: 100 } });
    const lm = new ManagedLM(p, { cache: createCache(), logger: captureLogger().logger });
    const a = await lm.generate(base);
    expect(a.cached).toBe(false);
    expect(a.costUsd).toBeGreaterThan(0);
    const b = await lm.generate(base);
    expect(b).toEqual({ ...a, cached: true, costUsd: 0 });
    expect(p.calls).toBe(1);

    const c = await lm.generate(base, { rolloutId: 'r1' });
    expect(c).toMatchObject({ cached: false, text: 'answer 2' });
    expect(p.calls).toBe(2);
    expect((await lm.generate(base, { rolloutId: 'r1' })).cached).toBe(true);

    const d = await lm.generate(base, { bypassCache: true });
    expect(d).toMatchObject({ cached: false, text: 'answer 3' });
    // The fresh result replaced the entry.
    expect((await lm.generate(base)).text).toBe('answer 3');
    expect(p.calls).toBe(3);
    expect(lm.usage.snapshot()).toMatchObject({ calls: 6, cacheHits: 3 });
  });

  it('persists across instances through the disk cache', async () => {
    const dir = tmp();
    const log = captureLogger().logger;
    const p1 = new ScriptedProvider();
    await new ManagedLM(p1, { cache: createCache({ dir, logger: log }), logger: log }).generate(base);
    const p2 = new ScriptedProvider();
    const again = await new ManagedLM(p2, { cache: createCache({ dir, logger: log }), logger: log }).generate(base);
    expect(again).toMatchObject({ text: 'answer 1', cached: true });
    expect(p2.calls).toBe(0);
  });
});

describe('DiskCache crash safety', () => {
  const value = { text: 'hello', usage: { inputTokens: 3, outputTokens: 1 }, model: 'm' };
  const key = 'ab'.repeat(32);

  it('writes one file per key under sharded dirs, with no temp file left behind', async () => {
    const dir = tmp();
    const c = new DiskCache(dir, { logger: captureLogger().logger });
    await c.set(key, value);
    expect(c.pathFor(key)).toBe(path.join(dir, 'ab', 'ab', `${key}.json`));
    expect(readdirSync(path.join(dir, 'ab', 'ab'))).toEqual([`${key}.json`]);
    expect(await new DiskCache(dir, { logger: captureLogger().logger }).get(key)).toEqual(value);
  });

  it('ignores a leftover temp file from a crash mid-write', async () => {
    const dir = tmp();
    const c = new DiskCache(dir, { logger: captureLogger().logger });
    const shard = path.dirname(c.pathFor(key));
    await c.set('cd'.repeat(32), value); // creates the layout
    const { mkdirSync } = await import('node:fs');
    mkdirSync(shard, { recursive: true });
    // the temp name writeFileAtomic uses (src/util/atomic_file.ts): `.NAME.<pid>.<random>.tmp`
    writeFileSync(path.join(shard, `.${key}.json.999.deadbeef.tmp`), '{"v":1,"key":"ab');
    expect(await c.get(key)).toBeUndefined();
    await c.set(key, value);
    expect(await c.get(key)).toEqual(value);
  });

  it('treats a truncated or foreign entry as a logged miss, then overwrites it', async () => {
    const dir = tmp();
    const { logger, lines } = captureLogger();
    const c = new DiskCache(dir, { logger });
    await c.set(key, value);
    const file = c.pathFor(key);
    const full = readFileSync(file, 'utf8');
    writeFileSync(file, full.slice(0, full.length - 9));
    expect(await c.get(key)).toBeUndefined();
    expect(lines.some((l) => l.includes('corrupt entry'))).toBe(true);

    // An entry whose content belongs to another key is not served either.
    writeFileSync(file, full.replace(key, 'ef'.repeat(32)));
    expect(await c.get(key)).toBeUndefined();

    await c.set(key, value);
    expect(await c.get(key)).toEqual(value);
  });

  it('a corrupt entry makes ManagedLM call the provider instead of crashing', async () => {
    const dir = tmp();
    const log = captureLogger().logger;
    const p = new ScriptedProvider();
    const lm = new ManagedLM(p, { cache: createCache({ dir, logger: log }), logger: log });
    await lm.generate(base);
    const file = new DiskCache(dir).pathFor(lm.cacheKey(base));
    writeFileSync(file, '{"v":1,');
    const fresh = new ManagedLM(p, { cache: createCache({ dir, logger: log }), logger: log });
    expect(await fresh.generate(base)).toMatchObject({ cached: false, text: 'answer 2' });
  });
});

describe('MemoryCache', () => {
  it('evicts the least recently used entry', async () => {
    const c = new MemoryCache(2);
    const v = (t: string) => ({ text: t, usage: { inputTokens: 0, outputTokens: 0 }, model: 'm' });
    await c.set('a', v('a'));
    await c.set('b', v('b'));
    await c.get('a'); // a is now more recent than b
    await c.set('c', v('c'));
    expect(await c.get('b')).toBeUndefined();
    expect((await c.get('a'))?.text).toBe('a');
    expect((await c.get('c'))?.text).toBe('c');
  });
});

describe('concurrent identical requests', () => {
  const q: ChatMessage[] = [{ role: 'user', content: 'same question' }];

  it('share one provider request; the others count as cache hits, as they would sequentially', async () => {
    const p = new ScriptedProvider('m', { delayMs: 5 });
    const lm = new ManagedLM(p, { cache: createCache(), logger: captureLogger().logger });
    const answers = await Promise.all([lm.generate(q), lm.generate(q), lm.generate(q)]);
    expect(p.calls).toBe(1);
    expect(answers.map((a) => a.text)).toEqual(['answer 1', 'answer 1', 'answer 1']);
    expect(answers.map((a) => a.cached)).toEqual([false, true, true]);
    expect(lm.usage.snapshot()).toMatchObject({ calls: 3, cacheHits: 2, sent: 1 });
  });

  it('when the shared request fails, the others ask on their own', async () => {
    const p = new ScriptedProvider('m', { delayMs: 5, fail: (n) => (n === 1 ? new Error('boom') : undefined) });
    const lm = new ManagedLM(p, { cache: createCache(), logger: captureLogger().logger });
    const [first, second] = await Promise.allSettled([lm.generate(q), lm.generate(q)]);
    expect(first.status).toBe('rejected');
    expect(second).toMatchObject({ status: 'fulfilled', value: { text: 'answer 2', cached: false } });
    expect(p.calls).toBe(2);
  });

  it('without a cache (or with bypassCache) nothing is shared', async () => {
    const p = new ScriptedProvider('m', { delayMs: 5 });
    const lm = new ManagedLM(p, { cache: createCache(), logger: captureLogger().logger });
    await Promise.all([lm.generate(q, { bypassCache: true }), lm.generate(q, { bypassCache: true })]);
    expect(p.calls).toBe(2);
  });
});
