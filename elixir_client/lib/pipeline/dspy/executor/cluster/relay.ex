defmodule Pipeline.DSPy.Executor.Cluster.Relay do
  @moduledoc false
  # One per worker node: receives this node's pipeline telemetry like a forwarder does (the
  # same bounded, counted emitter path) and sends it in batches to a dispatcher on each
  # origin node, which re-emits it there, where the sidecar's forwarder listens. Telemetry is
  # global to a node (as :telemetry handlers are), so each batch goes to ONE dispatcher per
  # origin node (the one that came last): several clusters from the same origin (a cluster
  # per run) would otherwise re-emit every event several times. Dispatchers are monitored
  # and forgotten when they stop or their node goes down. Started on first use by an
  # execution from an origin, outside any supervision tree of the worker (the worker app
  # need not know about us); it exits when every origin it serves is gone.

  use GenServer

  alias Pipeline.DSPy.Telemetry.Forwarder

  @batch 200
  @flush_ms 20
  @max_buffer 100_000

  @doc """
  Makes sure this node relays its telemetry to `origin` (a dispatcher: a pid, or
  `{name, node}`). Costs one ETS lookup once the origin is known.
  """
  @spec ensure(pid | {atom, node}) :: :ok
  def ensure(origin) do
    if known?(origin), do: :ok, else: add(origin, 5)
  end

  defp known?(origin) do
    :ets.member(__MODULE__, origin)
  rescue
    ArgumentError -> false
  end

  defp add(origin, tries) do
    pid =
      case Process.whereis(__MODULE__) do
        nil ->
          case GenServer.start(__MODULE__, [], name: __MODULE__) do
            {:ok, pid} -> pid
            {:error, {:already_started, pid}} -> pid
            {:error, reason} -> exit(reason)
          end

        pid ->
          pid
      end

    GenServer.call(pid, {:add_origin, origin})
  catch
    # it was exiting (its last origin had just gone) and is not quite gone yet: again
    _kind, _reason when tries > 0 ->
      Process.sleep(2)
      add(origin, tries - 1)
  end

  @impl true
  def init(_) do
    counter = :atomics.new(4, signed: true)
    target = {self(), counter, @max_buffer}
    :ok = Forwarder.register_target(target)
    # origin => monitor (read by ensure/1 in the executions' processes)
    :ets.new(__MODULE__, [:named_table, :protected, read_concurrency: true])

    # origins: origin => {node, monitor, added}
    {:ok, %{target: target, counter: counter, origins: %{}, seq: 0, buf: [], n: 0, timer: nil}}
  end

  @impl true
  def handle_call({:add_origin, origin}, _from, s) do
    if Map.has_key?(s.origins, origin) do
      {:reply, :ok, s}
    else
      mref = Process.monitor(origin)
      :ets.insert(__MODULE__, {origin, mref})
      entry = {origin_node(origin), mref, s.seq}
      {:reply, :ok, %{s | origins: Map.put(s.origins, origin, entry), seq: s.seq + 1}}
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

  # A dispatcher is stopping: what is buffered goes out first (to it, if it is this node's
  # target), then it is forgotten and told so; it waits for that answer before it goes.
  def handle_info({:remove_origin, origin, reply_to, ref}, s) do
    s = flush(s)

    origins =
      case Map.pop(s.origins, origin) do
        {nil, origins} ->
          origins

        {{_node, mref, _}, origins} ->
          Process.demonitor(mref, [:flush])
          :ets.delete(__MODULE__, origin)
          origins
      end

    send(reply_to, {:origin_removed, ref, node()})

    if origins == %{},
      do: {:stop, :normal, %{s | origins: origins}},
      else: {:noreply, %{s | origins: origins}}
  end

  # A dispatcher stopped (its run ended), or its node went down. The events emitted before
  # the run's last executions returned are in the buffer or ahead of this message in the
  # mailbox (they were sent from this node before the results went back), so they are
  # flushed now: to the origin node's other dispatcher if it has one, else straight to the
  # origin node (nothing is lost while that node is up).
  def handle_info({:DOWN, mref, :process, _, _}, s) do
    {gone, origins} = Enum.split_with(s.origins, fn {_, {_, m, _}} -> m == mref end)
    for {origin, _} <- gone, do: :ets.delete(__MODULE__, origin)
    s = flush(%{s | origins: Map.new(origins)}, for({_, {node, _, _}} <- gone, do: node))

    if s.origins == %{},
      do: {:stop, :normal, s},
      else: {:noreply, s}
  end

  def handle_info(_other, s), do: {:noreply, s}

  @impl true
  def terminate(_reason, s), do: Forwarder.unregister_target(s.target)

  defp origin_node(pid) when is_pid(pid), do: node(pid)
  defp origin_node({_name, node}), do: node

  # `orphans`: origin nodes whose last dispatcher has just gone
  defp flush(s, orphans \\ [])

  defp flush(%{n: 0} = s, _orphans), do: s

  defp flush(s, orphans) do
    events = Enum.reverse(s.buf)
    # emitters count what they drop (buffer full) in slot 2; the origin adds it to its stats
    dropped = :atomics.exchange(s.counter, 2, 0)

    # the latest dispatcher of each origin node
    by_node = Enum.group_by(s.origins, fn {_, {node, _, _}} -> node end)

    for {_node, entries} <- by_node do
      {origin, _} = Enum.max_by(entries, fn {_, {_, _, seq}} -> seq end)
      send(origin, {:relay_telemetry, events, dropped})
    end

    for node <- Enum.uniq(orphans),
        not is_map_key(by_node, node),
        do: :erpc.cast(node, Pipeline.DSPy.Executor.Cluster.Dispatcher, :reemit, [events])

    %{s | buf: [], n: 0}
  end
end
