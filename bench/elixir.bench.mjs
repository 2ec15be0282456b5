#!/usr/bin/env node
// Elixir client benchmarks (issue 3), run by `npm run bench` (bench/run.mjs).
//
// 1. Node -> Elixir -> Node `pipeline/execute` round trip (p50/p99, one in flight) through
//    Pipeline.DSPy's Port owner with a no-op executor, against a raw Port echo (no JSON-RPC,
//    no decoding) measured in the same run. Target: execute p50 within 1.5x of echo p50.
//    Also printed: each round's p50s (the two paths use separate Node processes, and each can
//    land in a slow OS wake-up regime on its own), the best-round ratio (informative), and how
//    much of the gap is the Node peer's own JSON work (timed in the peer), the rest being the
//    BEAM side.
// 2. Telemetry end to end: events/s emitted with Pipeline.DSPy.Telemetry.emit/3 and received
//    as `telemetry/events` batches by the Node peer (target >= 150,000/s), and the emitter's
//    cost per event (target <= 1 µs median).
//
// 3. Telemetry into the real sidecar's store (issue 7: target >= 150,000/s): dist/cli.js serve
//    with a temporary data dir; execution-stop events emitted with Telemetry.emit/3, then
//    Pipeline.DSPy.flush_telemetry/2 (telemetry/flush answers once every record is fsynced);
//    events/s = durable records / (first emit .. flush reply). Dropped (forwarder bound) and
//    shed (store queue) counts printed; the sidecar's peak RSS (VmHWM) too.
//
// The Node end of 1 and 2 is bench/elixir/peer.mjs, a minimal peer with the sidecar's
// framing: the real sidecar issues pipeline/execute only inside optimize/evaluate runs. Those
// figures cover the Elixir side plus a minimal Node JSON peer; 3 is the real sidecar.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';

const here = dirname(fileURLToPath(import.meta.url));
const client = join(here, '..', 'elixir_client');

const mix = spawnSync('mix', ['--version'], { encoding: 'utf8' });
if (mix.status !== 0) {
  console.log('SKIPPED: mix is not installed (apt-get install elixir); the Elixir client cannot be measured');
  process.exit(0);
}

const env = {
  ...process.env,
  MIX_ENV: 'prod',
  BENCH_N: process.env.BENCH_N ?? '10000',
  BENCH_ROUNDS: process.env.BENCH_ROUNDS ?? '10',
  BENCH_WARMUP: process.env.BENCH_WARMUP ?? '2000',
  BENCH_EVENTS: process.env.BENCH_EVENTS ?? '300000',
  BENCH_STORE_EVENTS: process.env.BENCH_STORE_EVENTS ?? '300000',
};
const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const r = spawnSync('mix', ['run', join(here, 'elixir', 'bench.exs')], { cwd: client, env, encoding: 'utf8', maxBuffer: 64 << 20 });
const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('BENCH_RESULT '));
if (r.status !== 0 || !line) {
  process.stdout.write(r.stdout ?? '');
  process.stderr.write(r.stderr ?? '');
  console.log(`elixir bench failed (exit ${r.status})`);
  process.exit(1);
}
const res = JSON.parse(line.slice('BENCH_RESULT '.length));
const { echo, execute } = res.roundtrip;
const t = res.telemetry;
const f = (x, d = 1) => Number(x).toFixed(d);
const verdict = (ok) => (ok ? 'ok' : 'MISSED');

console.log(`machine load (1/5/15 min) before: ${loadBefore}, during: ${res.load}; 2 cores shared; JSON backend: ${res.json_backend}`);
console.log('');
console.log('pipeline/execute round trip, one in flight (µs)        p50       p99      mean');
console.log(`  raw Port echo (baseline)                       ${f(echo.p50).padStart(9)} ${f(echo.p99).padStart(9)} ${f(echo.mean).padStart(9)}`);
console.log(`  Pipeline.DSPy, no-op executor                  ${f(execute.p50).padStart(9)} ${f(execute.p99).padStart(9)} ${f(execute.mean).padStart(9)}`);
const { ratios } = res.roundtrip;
const ratio50 = ratios.p50;
console.log(`  (medians over ${res.roundtrip.rounds} alternating rounds; per-round p50 ratios: ${ratios.per_round.join(', ')})`);
console.log(`  per-round p50 echo:    ${ratios.echo_p50_per_round.join(', ')}`);
console.log(`  per-round p50 execute: ${ratios.execute_p50_per_round.join(', ')}`);
console.log(`  ratio execute/echo (median of rounds): p50 ${f(ratio50, 2)}x, p99 ${f(ratios.p99, 2)}x   (target p50 <= 1.5x: ${verdict(ratio50 <= 1.5)})`);
console.log(`  ratio of the best round of each (${f(ratios.best_execute_p50)} / ${f(ratios.best_echo_p50)} µs): ${f(ratios.best_p50, 2)}x   (informative; the verdict above is the one that counts)`);
const gap = execute.p50 - echo.p50;
console.log(`  execute - echo p50: ${f(gap)} µs, of which the Node peer's own JSON (stringify request + parse reply,`);
console.log(`  timed in the peer; the echo does none): ${f(ratios.peer_json_us)} µs; the rest (~${f(gap - ratios.peer_json_us)} µs) is the BEAM side:`);
console.log('  decoding the ~320-byte frame, dispatch, the hop to the executor worker (issue 3: executors run in');
console.log('  Task.Supervisor children, never in the Port owner), the executor wrapper and encoding the reply');
console.log('');
console.log('telemetry, Elixir emit -> forwarder -> telemetry/events -> Node peer');
console.log(`  emitted ${t.emitted}, delivered ${t.delivered}, dropped ${t.dropped} (counted), batches ${t.batches}`);
console.log(`  events/s delivered: ${f(t.events_per_s_wall, 0)} (first emit .. all sent events received)   (target >= 150000: ${verdict(t.events_per_s_wall >= 150000)})`);
console.log(`  emitter cost per event (send path, buffer not full): median ${f(t.emit_ns_median, 0)} ns, p99 of 1000-event chunks ${f(t.emit_ns_p99, 0)} ns   (target median <= 1000 ns: ${verdict(t.emit_ns_median <= 1000)})`);
console.log(`  emitter cost per event during the overflowing burst (mostly the drop path): median ${f(t.emit_ns_median_burst, 0)} ns`);
console.log('');
const st = res.store;
console.log('telemetry into the REAL sidecar\'s execution store (dist/cli.js serve, temporary --data-dir; issue 7)');
console.log(`  Telemetry.emit of ${st.emitted} [:pipeline, :execution, :stop] events -> forwarder -> telemetry/events -> store,`);
console.log(`  then flush_telemetry (answered once every record is fsynced): ${st.durable} durable in ${f(st.span_ms, 0)} ms`);
console.log(`  events/s durable: ${f(st.events_per_s, 0)}   (target >= 150000: ${verdict(st.events_per_s >= 150000)}; the Node peer above, for comparison: ${f(t.events_per_s_wall, 0)})`);
console.log(`  dropped: ${st.dropped_client} by the forwarder (buffer bound, counted), ${st.shed_store} shed by the store's queue; sidecar peak RSS ${st.sidecar_peak_rss_mb == null ? 'n/a' : f(st.sidecar_peak_rss_mb, 0) + ' MB'}`);
console.log('');
console.log('NOT MEASURED: pipeline/execute round trip through the real sidecar: it issues pipeline/execute only inside');
console.log('optimize/evaluate runs (no per-call latency exposed); bench/elixir/peer.mjs, with the same framing, stands in.');
