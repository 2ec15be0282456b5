#!/usr/bin/env node
// The wire, measured from Elixir through a real Erlang Port, against two baselines measured in
// this same run: a raw {:packet, 4} echo (the floor) and a fresh `mix` process per call (the
// subprocess-per-call bridge the sidecar replaces). Also cold start: spawn -> initialize reply.
//
// Needs `npm run build` first (`npm run bench` does it) and elixir/mix on PATH.
// Targets: ping p50 within 1.5x of the echo floor; >= 5000x faster than per-call mix;
// cold start < 250 ms.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const cli = join(root, 'dist', 'cli.js');
const portBench = join(here, 'wire', 'port_bench.exs');
const echo = join(here, 'wire', 'echo.mjs');
const RTT_SAMPLES = Number(process.env.WIRE_BENCH_SAMPLES ?? 5000);
const COLD_RUNS = 7;
const MIX_RUNS = 5;

if (!existsSync(cli)) {
  console.error('dist/cli.js is missing: run `npm run build` (or `npm run bench`) first');
  process.exit(1);
}
for (const tool of ['elixir', 'mix']) {
  if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).status !== 0) {
    console.error(`${tool} is not on PATH: the wire bench needs Elixir (apt-get install -y elixir)`);
    process.exit(1);
  }
}

function runElixir(args) {
  const r = spawnSync('elixir', [portBench, ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('RESULT '));
  if (r.status !== 0 || !line) throw new Error(`elixir ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(line.slice('RESULT '.length));
}

/** A throwaway mix project with one task that prints a ping reply: the old bridge, per call. */
function perCallMix() {
  const dir = mkdtempSync(join(tmpdir(), 'elexirion-mixbench-'));
  try {
    writeFileSync(
      join(dir, 'mix.exs'),
      `defmodule BenchPing.MixProject do
  use Mix.Project
  def project, do: [app: :bench_ping, version: "0.1.0", elixir: "~> 1.14", deps: []]
end
`,
    );
    mkdirSync(join(dir, 'lib', 'mix', 'tasks'), { recursive: true });
    writeFileSync(
      join(dir, 'lib', 'mix', 'tasks', 'bench.ping.ex'),
      `defmodule Mix.Tasks.Bench.Ping do
  use Mix.Task
  @impl true
  def run(_args), do: IO.puts(~s({"jsonrpc":"2.0","id":1,"result":{}}))
end
`,
    );
    const call = () => {
      const t0 = performance.now();
      const r = spawnSync('mix', ['bench.ping'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      const ms = performance.now() - t0;
      if (r.status !== 0 || !r.stdout.includes('"result"')) throw new Error(`mix bench.ping failed: ${r.stdout}${r.stderr}`);
      return ms;
    };
    call(); // compiles the project: not part of a per-call cost
    const times = Array.from({ length: MIX_RUNS }, call).sort((a, b) => a - b);
    return { median_ms: times[Math.floor(times.length / 2)], min_ms: times[0] };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (n, d = 1) => (typeof n === 'number' ? n.toFixed(d) : String(n));
const started = performance.now();
const load = loadavg()[0];

const echoStats = runElixir(['rtt', String(RTT_SAMPLES), 'noinit', process.execPath, echo]);
const sidecarStats = runElixir(['rtt', String(RTT_SAMPLES), 'init', process.execPath, cli, 'serve', '--log-level', 'warn']);
const cold = runElixir(['cold', String(COLD_RUNS), process.execPath, cli, 'serve', '--log-level', 'warn']);
const mix = perCallMix();

const p50Ratio = sidecarStats.p50_us / echoStats.p50_us;
const vsMix = (mix.median_ms * 1000) / sidecarStats.p50_us;
const verdict = (ok) => (ok ? 'met' : 'MISSED');

console.log(`machine: ${cpus().length} cores, load average ${fmt(load, 2)} at start (figures are noisy on a loaded machine)`);
console.log('');
console.log('ping from Elixir through a real Port ({:packet, 4}):');
console.log('  what                          p50 us    p99 us   mean us   pipelined/s');
const row = (name, s) =>
  console.log(`  ${name.padEnd(28)}${fmt(s.p50_us).padStart(8)}${fmt(s.p99_us).padStart(10)}${fmt(s.mean_us).padStart(10)}${String(s.per_s).padStart(14)}`);
row('raw node echo (floor)', echoStats);
row('elexirion sidecar ping', sidecarStats);
console.log(`  per-call mix process        ${fmt(mix.median_ms * 1000, 0).padStart(8)}  (median of ${MIX_RUNS}; min ${fmt(mix.min_ms)} ms)`);
console.log('');
console.log(`cold start (spawn -> initialize reply), median of ${COLD_RUNS}: ${fmt(cold.median_ms)} ms (min ${fmt(cold.min_ms)} ms)`);
console.log('');
console.log('ratios:');
console.log(`  sidecar p50 / echo p50       ${fmt(p50Ratio, 2)}x   (target <= 1.5x: ${verdict(p50Ratio <= 1.5)})`);
console.log(`  per-call mix / sidecar p50   ${fmt(vsMix, 0)}x   (target >= 5000x: ${verdict(vsMix >= 5000)})`);
console.log(`  sidecar / echo throughput    ${fmt(sidecarStats.per_s / echoStats.per_s, 2)}x`);
console.log(`  cold start                   ${fmt(cold.median_ms)} ms (target < 250 ms: ${verdict(cold.median_ms < 250)})`);
console.log(`\n(wire bench took ${fmt((performance.now() - started) / 1000)} s)`);
