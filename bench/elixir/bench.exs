# Run by bench/elixir.bench.mjs (cd elixir_client && mix run ../bench/elixir/bench.exs).
# Prints one JSON line prefixed "BENCH_RESULT " with every figure.
alias Pipeline.DSPy.{JSON, Telemetry}
Logger.configure(level: :warning)

n = String.to_integer(System.get_env("BENCH_N", "10000"))
warm = String.to_integer(System.get_env("BENCH_WARMUP", "2000"))
events = String.to_integer(System.get_env("BENCH_EVENTS", "300000"))
node = System.find_executable("node")
peer = Path.expand("peer.mjs", __DIR__)

rounds = String.to_integer(System.get_env("BENCH_ROUNDS", "10"))
per_round = div(n, rounds)

# Both paths stay up; rounds alternate between them so that both meet the same machine
# state (on 2 shared cores the figures are bimodal: same-core vs cross-core wakeups).
#
# 1. Baseline: raw port echo (no JSON-RPC, no decode), same peer framing code.
port = Port.open({:spawn_executable, node}, [:binary, {:packet, 4}, :exit_status, :use_stdio, args: [peer, "echo"]])

echo_round = fn ->
  Port.command(port, JSON.encode!(%{run: per_round, warmup: div(warm, rounds)}))

  loop = fn loop ->
    receive do
      {^port, {:data, "{\"stats\"" <> _ = d}} -> JSON.decode!(d)["stats"]
      {^port, {:data, d}} -> Port.command(port, d) && loop.(loop)
    end
  end

  loop.(loop)
end

# 2. pipeline/execute round trip through Pipeline.DSPy with a no-op executor.
noop = fn _config, _inputs, _ctx -> {:ok, %{status: "ok", steps: %{}, output: nil}} end

{:ok, sup} =
  Pipeline.DSPy.start_link(name: :bench_rpc, command: [node, peer, "rpc"], executor: noop, telemetry: false)

wait = fn name ->
  w = fn w -> if Pipeline.DSPy.status(name) == :ready, do: :ok, else: (Process.sleep(10) && w.(w)) end
  w.(w)
end

wait.(:bench_rpc)

rpc_round = fn ->
  {:ok, st} =
    Pipeline.DSPy.request(:bench_rpc, "bench/run", %{n: per_round, warmup: div(warm, rounds)}, timeout: 120_000)

  st
end

round_stats =
  for _ <- 1..rounds do
    e = echo_round.()
    r = rpc_round.()
    %{echo: e, execute: r, ratio_p50: r["p50"] / e["p50"], ratio_p99: r["p99"] / e["p99"]}
  end

Port.close(port)
Supervisor.stop(sup)
median = fn xs -> xs |> Enum.sort() |> Enum.at(div(length(xs), 2)) end
pick = fn which, key -> median.(Enum.map(round_stats, &(&1[which][key]))) end
echo_stats = %{"p50" => pick.(:echo, "p50"), "p99" => pick.(:echo, "p99"), "mean" => pick.(:echo, "mean"), "n" => per_round * rounds}
rpc_stats = %{"p50" => pick.(:execute, "p50"), "p99" => pick.(:execute, "p99"), "mean" => pick.(:execute, "mean"), "n" => per_round * rounds}
best = fn which -> round_stats |> Enum.map(&(&1[which]["p50"])) |> Enum.min() end

ratios = %{
  p50: median.(Enum.map(round_stats, & &1.ratio_p50)),
  p99: median.(Enum.map(round_stats, & &1.ratio_p99)),
  per_round: Enum.map(round_stats, &Float.round(&1.ratio_p50, 2)),
  # Each path has its own Node process; on 2 shared cores each lands, per round, in a fast
  # (~15 µs echo) or a slow (~50 µs echo) wake-up regime, independently of the other, which
  # is what makes single-round ratios swing from ~0.6x to ~5x. The best round of each path
  # is the figure least affected by where the OS put the threads (reported beside the median).
  best_p50: best.(:execute) / best.(:echo),
  echo_p50_per_round: Enum.map(round_stats, &Float.round(&1.echo["p50"] * 1.0, 1)),
  execute_p50_per_round: Enum.map(round_stats, &Float.round(&1.execute["p50"] * 1.0, 1)),
  best_echo_p50: best.(:echo),
  best_execute_p50: best.(:execute),
  peer_json_us: median.(Enum.map(round_stats, & &1.execute["peer_json_us"]))
}

# 3. Telemetry: emitter cost and end-to-end events/s into the peer.
{:ok, sup} =
  Pipeline.DSPy.start_link(
    name: :bench_tele,
    command: [node, peer, "rpc"],
    executor: noop,
    telemetry: true,
    telemetry_buffer: 100_000,
    telemetry_batch: 2_000,
    telemetry_flush_ms: 5
  )

wait.(:bench_tele)

meta = %{pipeline_name: "bench", status: "ok", run_id: "bench-run", step_name: "a"}
chunk = 1_000
fwd = Pipeline.DSPy.Telemetry.Forwarder
fwd_name = Pipeline.DSPy.forwarder(:bench_tele)

# 3a. Emitter cost on the send path: 50 chunks, well under the 100k buffer bound, so no event
#     takes the (cheaper) drop path. Then wait for the forwarder to drain.
send_path_ns =
  for _ <- 1..50 do
    t0 = System.monotonic_time(:nanosecond)
    for i <- 1..chunk, do: Telemetry.emit([:pipeline, :step, :stop], %{duration: i, duration_ms: 0.5}, meta)
    (System.monotonic_time(:nanosecond) - t0) / chunk
  end

drain = fn d -> if fwd.stats(fwd_name).buffered == 0, do: :ok, else: (Process.sleep(10) && d.(d)) end
drain.(drain)
base = fwd.stats(fwd_name)
{:ok, base_peer} = Pipeline.DSPy.request(:bench_tele, "bench/stats", %{})

# 3b. Throughput: as fast as the emitter can go; past the bound events are dropped and counted.
t_start = System.monotonic_time(:microsecond)

per_event_ns =
  for c <- 1..div(events, chunk) do
    t0 = System.monotonic_time(:nanosecond)
    for i <- 1..chunk, do: Telemetry.emit([:pipeline, :step, :stop], %{duration: i, duration_ms: 0.5}, meta)
    t1 = System.monotonic_time(:nanosecond)
    # A 1 ms breather every 20k events lets the scheduler interleave (2 cores): the rate
    # measured is the forwarder's and the peer's, the emitter is far faster anyway.
    if rem(c, 20) == 0, do: Process.sleep(1)
    (t1 - t0) / chunk
  end

final =
  Enum.reduce_while(1..600, nil, fn _, _ ->
    s = fwd.stats(fwd_name)
    {:ok, p} = Pipeline.DSPy.request(:bench_tele, "bench/stats", %{})

    if s.buffered == 0 and p["events"] == s.sent,
      do: {:halt, {s, p}},
      else: (Process.sleep(20) && {:cont, {s, p}})
  end)

{fstats, pstats} = final
delivered = pstats["events"] - base_peer["events"]
dropped = fstats.dropped - base.dropped
# from the first emit of 3b until the peer had every event sent (BEAM clock, conservative)
span_beam_us = System.monotonic_time(:microsecond) - t_start
sorted = Enum.sort(send_path_ns)
median_ns = Enum.at(sorted, div(length(sorted), 2))
all_sorted = Enum.sort(per_event_ns)
Supervisor.stop(sup)

# 4. Telemetry into the REAL sidecar's execution store (issue 7): dist/cli.js serve with a
#    temporary data dir; execution-stop events (one stored record each) emitted with
#    Telemetry.emit/3, then flush_telemetry (forwarder flush + telemetry/flush, which answers
#    once every record is fsynced). Timed from the first emit to the flush reply. The
#    forwarder's buffer holds the whole burst, so the rate is that of the whole path with no
#    event lost.
store_events = String.to_integer(System.get_env("BENCH_STORE_EVENTS", "300000"))
data_dir = Path.join(System.tmp_dir!(), "elixir_bench_store_#{System.unique_integer([:positive])}")

{:ok, sup} =
  Pipeline.DSPy.start_link(
    name: :bench_store,
    data_dir: data_dir,
    executor: noop,
    telemetry: true,
    # room for the whole burst: the figure is the sustained rate with nothing lost (drops, if
    # any, are printed)
    telemetry_buffer: store_events,
    telemetry_batch: 2_000,
    telemetry_flush_ms: 5,
    request_timeout: 120_000,
    env: %{"ELEXIRION_LOG_LEVEL" => "warn"}
  )

wait.(:bench_store)
store_fwd = Pipeline.DSPy.forwarder(:bench_store)
# open the store before timing (it opens on the first telemetry/* request)
{:ok, _} = Pipeline.DSPy.flush_telemetry(:bench_store)
store_base = fwd.stats(store_fwd)
store_meta = %{pipeline_name: "bench_store", status: "ok", success: true}
t_store = System.monotonic_time(:microsecond)

for c <- 1..div(store_events, chunk) do
  for i <- 1..chunk,
      do:
        Telemetry.emit(
          [:pipeline, :execution, :stop],
          %{duration: i, duration_ms: 1.5},
          Map.put(store_meta, :run_id, c * chunk + i)
        )

  if rem(c, 20) == 0, do: Process.sleep(1)
end

{:ok, %{"durable" => durable}} = Pipeline.DSPy.flush_telemetry(:bench_store, timeout: 120_000)
store_span_us = System.monotonic_time(:microsecond) - t_store
store_fstats = fwd.stats(store_fwd)
{:ok, status} = Pipeline.DSPy.request(:bench_store, "learning/status", %{})
os_pid = Pipeline.DSPy.sidecar_os_pid(:bench_store)

hwm_kb =
  case File.read("/proc/#{os_pid}/status") do
    {:ok, st} ->
      case Regex.run(~r/VmHWM:\s+(\d+)/, st) do
        [_, kb] -> String.to_integer(kb)
        _ -> nil
      end

    _ ->
      nil
  end

Supervisor.stop(sup)
File.rm_rf!(data_dir)
shed = get_in(status, ["stats", "store", "shedRecords"]) || 0

store = %{
  emitted: store_events,
  durable: durable,
  dropped_client: store_fstats.dropped - store_base.dropped,
  shed_store: shed,
  wire: status["wire"],
  events_per_s: durable / store_span_us * 1_000_000,
  span_ms: store_span_us / 1000,
  sidecar_peak_rss_mb: hwm_kb && hwm_kb / 1024
}

result = %{
  store: store,
  roundtrip: %{echo: echo_stats, execute: rpc_stats, ratios: ratios, rounds: rounds},
  telemetry: %{
    emitted: events,
    delivered: delivered,
    dropped: dropped,
    batches: pstats["batches"] - base_peer["batches"],
    events_per_s_wall: delivered / span_beam_us * 1_000_000,
    emit_ns_median: median_ns,
    emit_ns_p99: Enum.at(sorted, trunc(length(sorted) * 0.99)),
    emit_ns_median_burst: Enum.at(all_sorted, div(length(all_sorted), 2))
  },
  json_backend: JSON.backend(),
  load: File.read!("/proc/loadavg") |> String.split() |> Enum.take(3) |> Enum.join(" ")
}

IO.puts("BENCH_RESULT " <> JSON.encode!(result))
