# Executions per second through the sidecar with the cluster executor over 1, 2 and 4 worker
# nodes (OTP :peer on this machine), each execution a fixed 20 ms, 8 at a time per node; the
# sidecar's `evaluate` keeps nodes x 8 executions in flight. Prints `BENCH_RESULT {json}`.
n = String.to_integer(System.get_env("BENCH_N", "480"))
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

peers =
  for i <- 1..4 do
    {:ok, pid, node} =
      :peer.start(%{name: :"bench_w#{i}", host: ~c"127.0.0.1", longnames: true, args: [~c"-setcookie", Atom.to_charlist(Node.get_cookie()) | paths]})

    {:ok, _} = :erpc.call(node, Application, :ensure_all_started, [:elixir])
    {:module, _} = :erpc.call(node, :code, :load_binary, [fixed, ~c"nofile", fixed_bin])
    {pid, node}
  end

config = %{
  "workflow" => %{
    "name" => "bench",
    "steps" => [%{"name" => "answer", "type" => "claude", "prompt" => [%{"type" => "static", "content" => "{{inputs.question}}"}]}]
  }
}

examples = for i <- 1..n, do: %{"id" => "q#{i}", "input" => %{"question" => "q#{i}"}, "expected_output" => %{"answer" => "q#{i}"}}

measure = fn k ->
  nodes = peers |> Enum.take(k) |> Enum.map(&elem(&1, 1))
  cname = :"bench_cluster_#{k}"
  {:ok, _} = Pipeline.DSPy.Executor.Cluster.start_link(name: cname, nodes: nodes, per_node: 8, executor: fixed)
  server = :"bench_dspy_#{k}"
  {:ok, _} = Pipeline.DSPy.start_link(name: server, telemetry: false, executor: {Pipeline.DSPy.Executor.Cluster, cname})
  wait = fn w -> if Pipeline.DSPy.status(server) == :ready, do: :ok, else: (Process.sleep(10); w.(w)) end
  wait.(wait)
  run = fn count ->
    t0 = System.monotonic_time(:microsecond)

    {:ok, %{"results" => results}} =
      Pipeline.DSPy.evaluate(config, server: server, training_data: Enum.take(examples, count), lm: "offline", concurrency: k * 8, timeout: 600_000)

    ^count = length(results)
    System.monotonic_time(:microsecond) - t0
  end

  run.(k * 16)
  us = run.(n)
  %{nodes: k, per_second: n / (us / 1_000_000), ideal_per_second: k * 8 / 0.020}
end

results = Enum.map([1, 2, 4], measure)
for {pid, _} <- peers, do: :peer.stop(pid)

IO.puts(
  "BENCH_RESULT " <>
    Pipeline.DSPy.JSON.encode!(%{
      n: n,
      results: results,
      load: File.read!("/proc/loadavg") |> String.split(" ") |> Enum.take(3) |> Enum.join(" ")
    })
)
