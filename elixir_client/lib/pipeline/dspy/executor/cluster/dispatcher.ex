defmodule Pipeline.DSPy.Executor.Cluster.Dispatcher do
  @moduledoc false
  # The process that owns a cluster executor's Pool: hands out execution slots on worker nodes
  # (callers wait in order while every node is full), follows membership (node up/down,
  # connected nodes, a :pg group, a configured list) and re-emits telemetry relayed from the
  # worker nodes on this node, where the sidecar's forwarder receives it.

  use GenServer

  alias Pipeline.DSPy.Executor.Cluster.Pool
  alias Pipeline.DSPy.Telemetry

  @poll_ms 250
  @leave_ms 1_000

  # unnamed when started for one run (the run's executor holds its pid)
  @spec start_link(keyword) :: GenServer.on_start()
  def start_link(opts) do
    case opts[:name] do
      nil -> GenServer.start_link(__MODULE__, opts)
      name -> GenServer.start_link(__MODULE__, opts, name: name)
    end
  end

  @doc """
  Waits for a slot on the least-loaded node not in `exclude`: `{:ok, node}`, or
  `{:error, :no_node}` when none is free before `timeout`. `ref` identifies the request so a
  caller that gives up can `abandon/2` it (a slot granted after the caller stopped waiting is
  given back, never leaked).
  """
  @spec checkout(GenServer.server(), reference, [node], timeout) ::
          {:ok, node} | {:error, :no_node}
  def checkout(d, ref, exclude, timeout) do
    GenServer.call(d, {:checkout, ref, exclude}, timeout)
  catch
    :exit, {:timeout, _} ->
      abandon(d, ref)
      {:error, :no_node}
  end

  @spec checkin(GenServer.server(), reference) :: :ok
  def checkin(d, ref), do: GenServer.cast(d, {:checkin, ref})

  @spec abandon(GenServer.server(), reference) :: :ok
  def abandon(d, ref), do: GenServer.cast(d, {:abandon, ref})

  @spec node_lost(GenServer.server(), node, :retried | :not_retried) :: :ok
  def node_lost(d, node, outcome), do: GenServer.cast(d, {:node_lost, node, outcome})

  @spec stats(GenServer.server()) :: map
  def stats(d), do: GenServer.call(d, :stats)

  @doc "Emits telemetry relayed from a worker node on this node, where the forwarders listen."
  @spec reemit([{[atom], map, map}]) :: :ok
  def reemit(events) do
    for {event, measurements, metadata} <- events,
        do: Telemetry.emit(event, measurements, metadata)

    :ok
  end

  ## Server

  @impl true
  def init(opts) do
    :ok = :net_kernel.monitor_nodes(true)
    # stopping (the end of its run, a shutdown) goes through terminate/2, which takes the
    # telemetry the workers' relays still hold for it before it goes
    Process.flag(:trap_exit, true)

    s = %{
      # what the workers' relays know this dispatcher by
      key: if(name = opts[:name], do: {name, node()}, else: self()),
      pool: Pool.new(Keyword.fetch!(opts, :per_node)),
      source: Keyword.fetch!(opts, :nodes),
      # ref => {node, caller monitor}
      granted: %{},
      # queue of {from, ref, exclude}
      waiting: :queue.new(),
      not_retried: 0,
      relayed: 0,
      relay_dropped: 0,
      # node => monitor of the process trying to connect to it (configured lists only)
      connecting: %{}
    }

    s = refresh(s)
    schedule_poll(s)
    {:ok, s}
  end

  @impl true
  def handle_call({:checkout, ref, exclude}, {pid, _} = from, s) do
    case Pool.checkout(s.pool, exclude) do
      {:ok, node, pool} ->
        {:reply, {:ok, node}, grant(%{s | pool: pool}, ref, node, pid)}

      :full ->
        {:noreply, %{s | waiting: :queue.in({from, ref, exclude}, s.waiting)}}
    end
  end

  def handle_call(:stats, _from, s) do
    {:reply,
     Map.merge(Pool.stats(s.pool), %{
       waiting: :queue.len(s.waiting),
       not_retried: s.not_retried,
       telemetry_relayed: s.relayed,
       telemetry_dropped: s.relay_dropped
     }), s}
  end

  @impl true
  def handle_cast({:checkin, ref}, s), do: {:noreply, serve(release(s, ref))}

  def handle_cast({:abandon, ref}, s) do
    waiting = :queue.filter(fn {_, r, _} -> r != ref end, s.waiting)
    {:noreply, serve(release(%{s | waiting: waiting}, ref))}
  end

  def handle_cast({:node_lost, _node, :retried}, s),
    do: {:noreply, %{s | pool: Pool.count_retry(s.pool)}}

  def handle_cast({:node_lost, _node, :not_retried}, s),
    do: {:noreply, %{s | not_retried: s.not_retried + 1}}

  @impl true
  def handle_info({:nodeup, _node}, s), do: {:noreply, serve(refresh(s))}

  def handle_info({:nodedown, node}, s) do
    {pool, _running} = Pool.remove_node(s.pool, node)
    {:noreply, serve(%{s | pool: pool})}
  end

  def handle_info(:poll, s) do
    schedule_poll(s)
    {:noreply, serve(refresh(s))}
  end

  def handle_info({:relay_telemetry, events, dropped}, s),
    do: {:noreply, relayed(s, events, dropped)}

  # asked to stop by a process it is linked to (the connection, at the end of its run)
  def handle_info({:EXIT, _pid, reason}, s), do: {:stop, reason, s}

  def handle_info({:DOWN, mref, :process, _pid, _}, s) do
    case Enum.find(s.granted, fn {_, {_, m}} -> m == mref end) do
      {ref, _} ->
        {:noreply, serve(release(s, ref))}

      nil ->
        connecting = s.connecting |> Enum.reject(fn {_, m} -> m == mref end) |> Map.new()
        {:noreply, %{s | connecting: connecting}}
    end
  end

  def handle_info(_other, s), do: {:noreply, s}

  @impl true
  def terminate(_reason, s) do
    leave_relays(s)
    :ok
  end

  ## Internals

  defp relayed(s, events, dropped) do
    reemit(events)
    %{s | relayed: s.relayed + length(events), relay_dropped: s.relay_dropped + dropped}
  end

  # Each worker's relay that served us flushes what it holds (to us if we are its target for
  # this node), forgets us and says so; what it sent before that is ahead of its answer in our
  # mailbox, so nothing relayed to us is lost when we stop. At most @leave_ms in all (a relay
  # on a node that is gone answers with a :DOWN).
  defp leave_relays(s) do
    ref = make_ref()

    waiting =
      for {node, %{dispatched: d}} <- Pool.stats(s.pool).nodes,
          d > 0,
          node != node(),
          into: %{} do
        relay = {Pipeline.DSPy.Executor.Cluster.Relay, node}
        mref = Process.monitor(relay)
        send(relay, {:remove_origin, s.key, self(), ref})
        {node, mref}
      end

    await_relays(s, ref, waiting, System.monotonic_time(:millisecond) + @leave_ms)
  end

  defp await_relays(s, _ref, waiting, _deadline) when map_size(waiting) == 0, do: s

  defp await_relays(s, ref, waiting, deadline) do
    left = max(0, deadline - System.monotonic_time(:millisecond))

    receive do
      {:relay_telemetry, events, dropped} ->
        await_relays(relayed(s, events, dropped), ref, waiting, deadline)

      {:origin_removed, ^ref, node} ->
        {mref, waiting} = Map.pop(waiting, node)
        if mref, do: Process.demonitor(mref, [:flush])
        await_relays(s, ref, waiting, deadline)

      {:DOWN, mref, :process, _, _} ->
        waiting = waiting |> Enum.reject(fn {_, m} -> m == mref end) |> Map.new()
        await_relays(s, ref, waiting, deadline)
    after
      left -> s
    end
  end

  defp grant(s, ref, node, pid),
    do: %{s | granted: Map.put(s.granted, ref, {node, Process.monitor(pid)})}

  defp release(s, ref) do
    case Map.pop(s.granted, ref) do
      {nil, _} ->
        s

      {{node, mref}, granted} ->
        Process.demonitor(mref, [:flush])
        %{s | granted: granted, pool: Pool.checkin(s.pool, node)}
    end
  end

  # Hands free slots to waiting callers, in the order they came (a caller whose excluded
  # nodes are the only free ones keeps its place).
  defp serve(s), do: if(:queue.is_empty(s.waiting), do: s, else: serve_waiting(s))

  defp serve_waiting(s) do
    {served, still} =
      Enum.reduce(:queue.to_list(s.waiting), {s, []}, fn {{pid, _} = from, ref, exclude} = w,
                                                         {acc, keep} ->
        case Pool.checkout(acc.pool, exclude) do
          {:ok, node, pool} ->
            GenServer.reply(from, {:ok, node})
            {grant(%{acc | pool: pool}, ref, node, pid), keep}

          :full ->
            {acc, [w | keep]}
        end
      end)

    %{served | waiting: :queue.from_list(Enum.reverse(still))}
  end

  # Brings the pool in line with the membership source.
  defp refresh(%{source: list} = s) when is_list(list) do
    # Configured nodes join once reachable. Connecting can take seconds for a dead host, so it
    # happens in a throwaway process (one per node at a time); :nodeup brings the node in.
    connecting =
      Enum.reduce(list, s.connecting, fn n, acc ->
        if alive?(n) or Map.has_key?(acc, n) do
          acc
        else
          {_pid, mref} = spawn_monitor(fn -> Node.connect(n) end)
          Map.put(acc, n, mref)
        end
      end)

    sync(%{s | connecting: connecting}, Enum.filter(list, &alive?/1))
  end

  defp refresh(s), do: sync(s, members(s.source))

  defp sync(s, wanted) do
    current = Pool.nodes(s.pool)
    pool = Enum.reduce(wanted -- current, s.pool, &Pool.add_node(&2, &1))
    pool = Enum.reduce(current -- wanted, pool, fn n, p -> elem(Pool.remove_node(p, n), 0) end)
    %{s | pool: pool}
  end

  defp members(:connected), do: Node.list()

  defp members({:pg, scope, group}) do
    :pg.get_members(scope, group) |> Enum.map(&node/1) |> Enum.uniq() |> Enum.filter(&alive?/1)
  end

  defp alive?(n), do: n == node() or n in Node.list()

  defp schedule_poll(%{source: :connected}), do: :ok
  defp schedule_poll(_), do: Process.send_after(self(), :poll, @poll_ms)
end
