defmodule Pipeline.DSPy.Executor.Cluster.Relay do
  @moduledoc false
  # One per worker node: receives this node's pipeline telemetry like a forwarder does (the
  # same bounded, counted emitter path) and sends it in batches to the dispatchers of the
  # origin nodes, which re-emit it where the sidecar's forwarder listens. Started on first use
  # by an execution from an origin, outside any supervision tree of the worker (the worker
  # app need not know about us); it exits when every origin it serves is gone.

  use GenServer

  alias Pipeline.DSPy.Telemetry.Forwarder

  @batch 200
  @flush_ms 20
  @max_buffer 100_000

  @spec ensure(GenServer.server()) :: :ok
  def ensure(origin) do
    pid =
      case Process.whereis(__MODULE__) do
        nil ->
          case GenServer.start(__MODULE__, [], name: __MODULE__) do
            {:ok, pid} -> pid
            {:error, {:already_started, pid}} -> pid
          end

        pid ->
          pid
      end

    GenServer.call(pid, {:add_origin, origin})
  end

  @impl true
  def init(_) do
    counter = :atomics.new(4, signed: true)
    target = {self(), counter, @max_buffer}
    :ok = Forwarder.register_target(target)
    {:ok, %{target: target, counter: counter, origins: %{}, buf: [], n: 0, timer: nil}}
  end

  @impl true
  def handle_call({:add_origin, {_name, node} = origin}, _from, s) do
    if Map.has_key?(s.origins, origin) do
      {:reply, :ok, s}
    else
      Node.monitor(node, true)
      {:reply, :ok, %{s | origins: Map.put(s.origins, origin, node)}}
    end
  end

  @impl true
  def handle_info({:telemetry_event, event, measurements, metadata, _time}, s) do
    :atomics.sub(s.counter, 1, 1)
    s = %{s | buf: [{event, measurements, metadata} | s.buf], n: s.n + 1}

    cond do
      s.n >= @batch -> {:noreply, flush(s)}
      s.timer == nil -> {:noreply, %{s | timer: Process.send_after(self(), :flush, @flush_ms)}}
      true -> {:noreply, s}
    end
  end

  def handle_info(:flush, s), do: {:noreply, flush(%{s | timer: nil})}

  def handle_info({:nodedown, node}, s) do
    origins = s.origins |> Enum.reject(fn {_, n} -> n == node end) |> Map.new()

    if origins == %{},
      do: {:stop, :normal, flush(%{s | origins: origins})},
      else: {:noreply, %{s | origins: origins}}
  end

  def handle_info(_other, s), do: {:noreply, s}

  @impl true
  def terminate(_reason, s), do: Forwarder.unregister_target(s.target)

  defp flush(%{n: 0} = s), do: s

  defp flush(s) do
    events = Enum.reverse(s.buf)
    # emitters count what they drop (buffer full) in slot 2; the origin adds it to its stats
    dropped = :atomics.exchange(s.counter, 2, 0)
    for {origin, _node} <- s.origins, do: send(origin, {:relay_telemetry, events, dropped})
    %{s | buf: [], n: 0}
  end
end
