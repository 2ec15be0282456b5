# Executions per second through the sidecar with the cluster executor over 1, 2 and 4 worker
# nodes (OTP :peer on this machine), each execution a fixed 20 ms, 8 at a time per node; the
# sidecar's `evaluate` keeps nodes x 8 executions in flight. Each figure is the median of
# BENCH_ROUNDS rounds of BENCH_N executions, after a warm-up round; the rounds of the three
# node counts are interleaved (1, 2, 4, 1, 2, 4, ...) so that a burst of load from elsewhere
# on the machine hits every figure alike and the ratios stay comparable. Also reports the CPU
# time each part spends per execution (origin BEAM, sidecar, each worker), which is where
# the overhead is. Prints `BENCH_RESULT {json}`.
n = String.to_integer(System.get_env("BENCH_N", "800"))
rounds = String.to_integer(System.get_env("BENCH_ROUNDS", "5"))
System.put_env("ELEXIRION_LOG_LEVEL", "error")
Logger.configure(level: :error)

# The executor the worker nodes run: compiled here and loaded onto each peer.
[{fixed, fixed_bin}] =
  Code.compile_string("""
  defmodule Bench.FixedLatencyExecutor do
    @behaviour Pipeline.DSPy.Executor
    def execute(_config, input, _ctx) do
      Process.sleep(20)
      {:ok, %{"answer" => %{"text" => to_string(input["question"]), "success" => true}}}
    end
  end
  """)

{_, 0} = System.cmd("epmd", ["-daemon"])
{:ok, _} = Node.start(:"cluster_bench@127.0.0.1", :longnames)
{:ok, _} = Application.ensure_all_started(:pipeline_dspy)

paths = Enum.flat_map(:code.get_path(), fn p -> [~c"-pa", p] end)
# The worker nodes share this machine's cores with the origin and the sidecar (on a real
# cluster each has its own): their schedulers must not spin waiting for work, which would
# take CPU from the others (the BEAM's default busy-wait is for a machine of its own).
vm_flags = Enum.flat_map(~w(+sbwt none +sbwtdcpu none +sbwtdio none), &[String.to_charlist(&1)])

peers =
  for i <- 1..4 do
    {:ok, pid, node} =
      :peer.start(%{
        name: :"bench_w#{i}",
        host: ~c"127.0.0.1",
        longnames: true,
        args: [~c"-setcookie", Atom.to_charlist(Node.get_cookie())] ++ vm_flags ++ paths
      })

    {:ok, _} = :erpc.call(node, Application, :ensure_all_started, [:elixir])
    {:module, _} = :erpc.call(node, :code, :load_binary, [fixed, ~c"nofile", fixed_bin])
    {pid, node}
  end

config = %{
  "workflow" => %{
    "name" => "bench",
    "steps" => [
      %{
        "name" => "answer",
        "type" => "claude",
        "prompt" => [%{"type" => "static", "content" => "{{inputs.question}}"}]
      }
    ]
  }
}

examples =
  for i <- 1..n,
      do: %{
        "id" => "q#{i}",
        "input" => %{"question" => "q#{i}"},
        "expected_output" => %{"answer" => "q#{i}"}
      }

# One sidecar, one instance: each run is given its cluster with `executor:` (the per-run
# option), started for the run and stopped when it ends.
server = :bench_dspy
{:ok, _} = Pipeline.DSPy.start_link(name: server, telemetry: false)

wait = fn w ->
  if Pipeline.DSPy.status(server) == :ready, do: :ok, else: Process.sleep(10) && w.(w)
end

wait.(wait)
sidecar = Pipeline.DSPy.sidecar_os_pid(server)

# CPU ms used so far: this BEAM, the sidecar (from /proc), each worker node
cpu = fn ->
  [utime, stime] =
    File.read!("/proc/#{sidecar}/stat")
    |> String.split(") ")
    |> List.last()
    |> String.split(" ")
    |> Enum.slice(11, 2)
    |> Enum.map(&String.to_integer/1)

  tick_ms = 1000 / 100

  %{
    origin: elem(:erlang.statistics(:runtime), 0),
    sidecar: (utime + stime) * tick_ms,
    workers:
      Enum.map(peers, fn {_, node} ->
        elem(:erpc.call(node, :erlang, :statistics, [:runtime]), 0)
      end)
  }
end

run = fn k, count ->
  nodes = peers |> Enum.take(k) |> Enum.map(&elem(&1, 1))
  c0 = cpu.()
  t0 = System.monotonic_time(:microsecond)

  {:ok, %{"results" => results}} =
    Pipeline.DSPy.evaluate(config,
      server: server,
      training_data: Enum.take(examples, count),
      lm: "offline",
      concurrency: k * 8,
      timeout: 600_000,
      executor: {Pipeline.DSPy.Executor.Cluster, nodes: nodes, per_node: 8, executor: fixed}
    )

  us = System.monotonic_time(:microsecond) - t0
  c1 = cpu.()
  ^count = length(results)

  %{
    per_second: count / (us / 1_000_000),
    cpu_ms_per_execution: %{
      origin: (c1.origin - c0.origin) / count,
      sidecar: (c1.sidecar - c0.sidecar) / count,
      workers: Enum.sum(Enum.zip_with(c1.workers, c0.workers, &(&1 - &2))) / count
    }
  }
end

median = fn xs ->
  s = Enum.sort(xs)
  l = length(s)

  if rem(l, 2) == 1,
    do: Enum.at(s, div(l, 2)),
    else: (Enum.at(s, div(l, 2) - 1) + Enum.at(s, div(l, 2))) / 2
end

loadavg = fn ->
  File.read!("/proc/loadavg") |> String.split(" ") |> Enum.take(3) |> Enum.join(" ")
end

load_before = loadavg.()
counts = [1, 2, 4]
# warm-up: every code path, the sidecar's JIT, every node connected
for k <- counts, do: run.(k, k * 32)

samples =
  for _round <- 1..rounds, k <- counts, reduce: %{} do
    acc -> Map.update(acc, k, [run.(k, n)], &[run.(k, n) | &1])
  end

results =
  for k <- counts do
    rs = samples[k]
    per_second = Enum.map(rs, & &1.per_second)

    %{
      nodes: k,
      per_second: median.(per_second),
      rounds: Enum.reverse(per_second),
      ideal_per_second: k * 8 / 0.020,
      cpu_ms_per_execution: %{
        origin: median.(Enum.map(rs, & &1.cpu_ms_per_execution.origin)),
        sidecar: median.(Enum.map(rs, & &1.cpu_ms_per_execution.sidecar)),
        workers: median.(Enum.map(rs, & &1.cpu_ms_per_execution.workers))
      }
    }
  end

for {pid, _} <- peers, do: :peer.stop(pid)

IO.puts(
  "BENCH_RESULT " <>
    Pipeline.DSPy.JSON.encode!(%{
      n: n,
      rounds: rounds,
      results: results,
      load_before: load_before,
      load_after: loadavg.()
    })
)
