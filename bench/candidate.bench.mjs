#!/usr/bin/env node
// Overhead per candidate execution (issue 6): sidecar, wire and the Elixir executor, with a
// zero-latency LM, against the bridge this project replaces: a fresh `mix pipeline.execute`
// process per candidate (what the seed's ElixirPipelineExecutor did), both measured in this run.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const client = join(here, '..', 'elixir_client');
if (spawnSync('mix', ['--version'], { stdio: 'ignore' }).status !== 0) {
  console.log('SKIPPED: mix is not installed (apt-get install elixir)');
  process.exit(0);
}
const env = { ...process.env, MIX_ENV: 'prod', ELEXIRION_LOG_LEVEL: 'error' };
spawnSync('mix', ['compile'], { cwd: client, env, stdio: 'ignore' });

// 1. Through the long-lived channel.
const r = spawnSync('mix', ['run', join(here, 'elixir', 'candidate_bench.exs')], { cwd: client, env, encoding: 'utf8', maxBuffer: 64 << 20 });
const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('BENCH_RESULT '));
if (r.status !== 0 || !line) {
  process.stdout.write(r.stdout ?? '');
  process.stderr.write(r.stderr ?? '');
  console.log(`candidate bench failed (exit ${r.status})`);
  process.exit(1);
}
const res = JSON.parse(line.slice('BENCH_RESULT '.length));

// 2. The subprocess-per-call bridge: one `mix pipeline.execute` process per candidate.
const dir = mkdtempSync(join(tmpdir(), 'elexirion-bridge-'));
const config = join(dir, 'pipeline.json');
const input = join(dir, 'input.json');
writeFileSync(config, JSON.stringify({ workflow: { name: 'bench', steps: [{ name: 'answer', type: 'claude', prompt: [{ type: 'static', content: 'Answer: {{inputs.question}}' }] }] } }));
writeFileSync(input, JSON.stringify({ question: 'What is 1 + 1?' }));
const runs = Number(process.env.BENCH_BRIDGE_RUNS ?? 5);
const times = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  const b = spawnSync('mix', ['pipeline.execute', '--config', config, '--input', input, '--format', 'json', '--lm', 'offline'], { cwd: client, env, encoding: 'utf8' });
  times.push(performance.now() - t0);
  if (b.status !== 0) {
    process.stdout.write(b.stdout ?? '');
    process.stderr.write(b.stderr ?? '');
    console.log('bridge run failed');
    process.exit(1);
  }
}
times.sort((a, b) => a - b);
const bridgeMs = times[Math.floor(times.length / 2)];

const us = (x) => `${x.toFixed(0)} µs`;
console.log(`machine load (1/5/15 min) during the run: ${res.load}; 2 cores`);
console.log(`candidate executions through sidecar + Port + Elixir Reference executor + lm/generate (offline LM, ${res.n} examples):`);
console.log(`  one at a time:        ${us(res.serial_us_per_candidate)} per candidate   (target < 1000 µs: ${res.serial_us_per_candidate < 1000 ? 'ok' : 'MISSED'})`);
console.log(`  8 at a time:          ${us(res.parallel_us_per_candidate)} per candidate (throughput)`);
console.log(`fresh \`mix pipeline.execute\` process per candidate (median of ${runs}): ${bridgeMs.toFixed(0)} ms`);
console.log(`ratio: the long-lived channel is ${(bridgeMs * 1000 / res.serial_us_per_candidate).toFixed(0)}x faster per candidate`);
