#!/usr/bin/env node
// Issue 16: executions per second through the sidecar with the cluster executor over 1, 2 and
// 4 worker nodes (real BEAM nodes started with :peer on this machine), each execution a fixed
// 20 ms, 8 at a time per node. Target: 4 nodes at least 3.5x the 1-node figure, measured in
// this run. (All nodes share this machine's 2 cores: the executions sleep, they do not spin.)
// Each figure is the median of several rounds (BENCH_ROUNDS, default 5, of BENCH_N = 800)
// after a warm-up round, with the CPU each part spends per execution.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const client = join(here, '..', 'elixir_client');
if (spawnSync('mix', ['--version'], { stdio: 'ignore' }).status !== 0) {
  console.log('SKIPPED: mix is not installed (apt-get install elixir)');
  process.exit(0);
}
// Every BEAM of the bench (this origin and its :peer workers, see cluster_bench.exs) shares
// the machine's cores: their schedulers must not spin waiting for work (the BEAM's default
// busy-wait assumes a machine of its own), which would take CPU from the sidecar and the others.
const noSpin = '+sbwt none +sbwtdcpu none +sbwtdio none';
const env = {
  ...process.env,
  MIX_ENV: 'prod',
  ELEXIRION_LOG_LEVEL: 'error',
  ELIXIR_ERL_OPTIONS: `${process.env.ELIXIR_ERL_OPTIONS ?? ''} ${noSpin}`.trim(),
};
spawnSync('mix', ['compile'], { cwd: client, env, stdio: 'ignore' });
const r = spawnSync('mix', ['run', join(here, 'elixir', 'cluster_bench.exs')], { cwd: client, env, encoding: 'utf8', maxBuffer: 64 << 20 });
const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('BENCH_RESULT '));
if (r.status !== 0 || !line) {
  process.stdout.write(r.stdout ?? '');
  process.stderr.write(r.stderr ?? '');
  console.log(`cluster bench failed (exit ${r.status})`);
  process.exit(1);
}
const res = JSON.parse(line.slice('BENCH_RESULT '.length));
const one = res.results.find((x) => x.nodes === 1).per_second;
console.log(`machine load (1/5/15 min) before: ${res.load_before}, after: ${res.load_after}; 2 cores`);
console.log(`each figure: median of ${res.rounds} rounds of ${res.n} executions (after a warm-up round; rounds of 1/2/4 nodes interleaved)`);
for (const x of res.results) {
  const cpu = x.cpu_ms_per_execution;
  console.log(
    `${x.nodes} node(s): ${x.per_second.toFixed(0)} executions/s (ideal ${x.ideal_per_second.toFixed(0)}/s, ${((100 * x.per_second) / x.ideal_per_second).toFixed(0)}% of it), ${(x.per_second / one).toFixed(2)}x 1 node` +
      `; rounds ${x.rounds.map((r) => r.toFixed(0)).join('/')}; CPU ms per execution: origin ${cpu.origin.toFixed(3)}, sidecar ${cpu.sidecar.toFixed(3)}, workers ${cpu.workers.toFixed(3)}`,
  );
}
const four = res.results.find((x) => x.nodes === 4).per_second / one;
console.log(`target 4 nodes >= 3.5x 1 node: ${four >= 3.5 ? 'met' : 'MISSED'} (${four.toFixed(2)}x)`);
