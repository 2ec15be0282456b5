#!/usr/bin/env node
// LM layer overhead: what ManagedLM (budget reservation, meter, price lookup, cache key,
// memory/disk cache, rate limiter) adds per call over a zero-latency provider, as ratios
// against the bare provider measured in the same run. Needs `npm run build` (dist/).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import {
  ManagedLM,
  Meter,
  RateLimiter,
  createCache,
  createLMLogger,
  runWithMeter,
} from '../dist/lm/index.js';

const quiet = createLMLogger({ level: 'warn', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

class ZeroLM {
  provider = 'bench';
  model = 'claude-haiku-4-5';
  async generate(messages) {
    return { text: 'ok', usage: { inputTokens: 500, outputTokens: 5 }, model: this.model, cached: false, costUsd: 0 };
  }
}

const system = 'Your input fields are:\n1. `question` (str)\nYour output fields are:\n1. `answer` (str)\n'.repeat(8);
const prompt = (i) => [
  { role: 'system', content: system },
  { role: 'user', content: `[[ ## question ## ]]\nquestion number ${i} ${'lorem ipsum '.repeat(60)}` },
];

async function perCall(label, n, fn) {
  for (let i = 0; i < Math.min(2000, n); i++) await fn(i); // warm up
  globalThis.gc?.();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn(i);
  const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
  return { label, us };
}

const N = 20_000;
const inner = new ZeroLM();
const rows = [];
rows.push(await perCall('bare provider (baseline)', N, (i) => inner.generate(prompt(i))));
const plain = new ManagedLM(inner, { logger: quiet });
rows.push(await perCall('ManagedLM, no cache', N, (i) => plain.generate(prompt(i))));
const budgeted = new ManagedLM(inner, { logger: quiet, budget: { maxCalls: 1e9, maxUsd: 1e9 } });
const meter = new Meter({ budget: { maxCalls: 1e9, maxTokens: 1e12 } });
rows.push(await perCall('ManagedLM + budget + meter', N, (i) => runWithMeter(meter, () => budgeted.generate(prompt(i)))));
const limited = new ManagedLM(inner, { logger: quiet, limiter: new RateLimiter({ maxConcurrent: 8 }) });
rows.push(await perCall('ManagedLM + rate limiter', N, (i) => limited.generate(prompt(i))));
const cachedMiss = new ManagedLM(inner, { logger: quiet, cache: createCache({ maxMemoryEntries: 1000 }) });
rows.push(await perCall('ManagedLM + memory cache, miss', N, (i) => cachedMiss.generate(prompt(i))));
const cachedHit = new ManagedLM(inner, { logger: quiet, cache: createCache() });
await cachedHit.generate(prompt(0));
rows.push(await perCall('ManagedLM + memory cache, hit', N, () => cachedHit.generate(prompt(0))));

const dir = mkdtempSync(path.join(tmpdir(), 'lm-bench-'));
try {
  const disk = new ManagedLM(inner, { logger: quiet, cache: createCache({ dir }) });
  rows.push(await perCall('ManagedLM + disk cache, miss (fsync + rename)', 300, (i) => disk.generate(prompt(1e6 + i))));
  const diskOnly = new ManagedLM(inner, { logger: quiet, cache: createCache({ dir, maxMemoryEntries: 1 }) });
  rows.push(await perCall('ManagedLM + disk cache, hit from disk', 300, (i) => diskOnly.generate(prompt(1e6 + (i % 300)))));
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const base = rows[0].us;
for (const r of rows) {
  console.log(`${r.label.padEnd(48)} ${r.us.toFixed(2).padStart(9)} µs/call   x${(r.us / base).toFixed(2)}   (+${(r.us - base).toFixed(2)} µs)`);
}

// Concurrency: 16-way over a 20 ms provider through a limiter of 8 should take ~2 rounds.
class SlowLM extends ZeroLM {
  async generate(m) {
    await new Promise((r) => setTimeout(r, 20));
    return super.generate(m);
  }
}
const slow = new ManagedLM(new SlowLM(), { logger: quiet, limiter: new RateLimiter({ maxConcurrent: 8 }) });
const t0 = performance.now();
await Promise.all(Array.from({ length: 64 }, (_, i) => slow.generate(prompt(i))));
const ms = performance.now() - t0;
const ideal = (64 / 8) * 20;
console.log(`64 calls, limiter maxConcurrent 8, 20 ms provider: ${ms.toFixed(1)} ms (ideal ${ideal} ms, efficiency ${((ideal / ms) * 100).toFixed(0)}%)`);
