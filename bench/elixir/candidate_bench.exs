# Per-candidate cost of an optimization's executions (issue 6): the sidecar's `evaluate` runs
# N candidates x examples, each a `pipeline/execute` call into this BEAM, run by the Reference
# executor, whose one LM call goes back to the sidecar (`lm/generate`, zero-latency offline LM).
# Prints one line `BENCH_RESULT {json}` for bench/candidate.bench.mjs.
n = String.to_integer(System.get_env("BENCH_N", "300"))
System.put_env("ELEXIRION_LOG_LEVEL", "error")
Logger.configure(level: :error)

{:ok, _} = Application.ensure_all_started(:pipeline_dspy)
{:ok, _} = Pipeline.DSPy.start_link(name: :bench, telemetry: false)

wait = fn wait ->
  if Pipeline.DSPy.status(:bench) == :ready, do: :ok, else: (Process.sleep(10); wait.(wait))
end

wait.(wait)

config = %{
  "workflow" => %{
    "name" => "bench",
    "steps" => [
      %{
        "name" => "answer",
        "type" => "claude",
        "prompt" => [
          %{"type" => "static", "content" => "PLACEHOLDER_FOR_OPTIMIZATION"},
          %{"type" => "static", "content" => "[[ ## question ## ]]\n{{inputs.question}}"}
        ]
      }
    ]
  }
}

examples = fn k ->
  for i <- 1..k,
      do: %{"id" => "q#{i}", "input" => %{"question" => "What is #{i} + #{i}?"}, "expected_output" => %{"answer" => "#{2 * i}"}}
end

run = fn k, concurrency ->
  t0 = System.monotonic_time(:microsecond)

  {:ok, %{"results" => results}} =
    Pipeline.DSPy.evaluate(config,
      server: :bench,
      training_data: examples.(k),
      lm: "offline",
      concurrency: concurrency,
      timeout: 600_000
    )

  true = length(results) == k
  (System.monotonic_time(:microsecond) - t0) / 1
end

# warm-up: JIT, caches, the LM stack's first load
run.(50, 1)
run.(50, 8)

serial_us = run.(n, 1)
parallel_us = run.(n, 8)

IO.puts(
  "BENCH_RESULT " <>
    Pipeline.DSPy.JSON.encode!(%{
      n: n,
      serial_us_per_candidate: serial_us / n,
      parallel_us_per_candidate: parallel_us / n,
      load: File.read!("/proc/loadavg") |> String.split(" ") |> Enum.take(3) |> Enum.join(" ")
    })
)
