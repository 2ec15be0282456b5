# Measures a JSON-RPC `ping` through a real Erlang Port ({:packet, 4}), as the Elixir client
# does it. No Jason here (no Hex): frames are built by hand and replies only checked for shape.
#
#   elixir port_bench.exs rtt N init|noinit EXE ARGS...    one in flight, then pipelined
#   elixir port_bench.exs cold K EXE ARGS...               spawn -> initialize reply, K times
defmodule PortBench do
  def open(exe, args) do
    Port.open({:spawn_executable, exe}, [:binary, {:packet, 4}, :exit_status, :use_stdio, args: args])
  end

  def recv(port) do
    receive do
      {^port, {:data, data}} -> data
      {^port, {:exit_status, s}} -> raise "port exited with #{s}"
    after
      10_000 -> raise "no reply within 10 s"
    end
  end

  def call(port, frame) do
    true = Port.command(port, frame)
    recv(port)
  end

  def ping(i), do: ~s({"jsonrpc":"2.0","id":#{i},"method":"ping"})

  def init_frame,
    do: ~s({"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"1.0","clientInfo":{"name":"bench"}}})

  def check!(reply, what) do
    if not String.contains?(reply, what), do: raise("unexpected reply: #{inspect(reply)}")
    reply
  end

  def pct(sorted, p) do
    n = tuple_size(sorted)
    elem(sorted, min(n - 1, trunc(p * n)))
  end

  def now, do: System.monotonic_time(:nanosecond)

  def rtt(port, n) do
    for i <- 1..div(n, 5), do: call(port, ping(i))

    samples =
      for i <- 1..n do
        t0 = now()
        reply = call(port, ping(i))
        dt = now() - t0
        check!(reply, "\"id\":#{i}")
        dt
      end

    sorted = samples |> Enum.sort() |> List.to_tuple()
    {pct(sorted, 0.5) / 1000, pct(sorted, 0.99) / 1000, Enum.sum(samples) / n / 1000}
  end

  def pipelined(port, m) do
    t0 = now()
    for i <- 1..m, do: Port.command(port, ping(i))
    for _ <- 1..m, do: recv(port)
    m / ((now() - t0) / 1.0e9)
  end
end

case System.argv() do
  ["rtt", n, init, exe | args] ->
    n = String.to_integer(n)
    port = PortBench.open(System.find_executable(exe) || exe, args)
    if init == "init", do: PortBench.check!(PortBench.call(port, PortBench.init_frame()), "protocolVersion")
    {p50, p99, mean} = PortBench.rtt(port, n)
    _ = PortBench.pipelined(port, 2_000)
    tput = PortBench.pipelined(port, n * 4)
    Port.close(port)

    IO.puts(
      ~s(RESULT {"p50_us":#{Float.round(p50, 2)},"p99_us":#{Float.round(p99, 2)},"mean_us":#{Float.round(mean, 2)},"per_s":#{round(tput)}})
    )

  ["cold", k, exe | args] ->
    exe = System.find_executable(exe) || exe

    times =
      for _ <- 1..String.to_integer(k) do
        t0 = PortBench.now()
        port = PortBench.open(exe, args)
        PortBench.check!(PortBench.call(port, PortBench.init_frame()), "protocolVersion")
        dt = (PortBench.now() - t0) / 1.0e6
        Port.close(port)
        Process.sleep(50)
        dt
      end

    sorted = Enum.sort(times)
    median = Enum.at(sorted, div(length(sorted), 2))
    IO.puts(~s(RESULT {"median_ms":#{Float.round(median, 1)},"min_ms":#{Float.round(hd(sorted), 1)}}))
end
