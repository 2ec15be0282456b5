defmodule Pipeline.DSPy.Telemetry.Forwarder do
  @moduledoc """
  Batches telemetry events and sends them to the sidecar as `telemetry/events`
  notifications: `{events: [{event, measurements, metadata, time}], dropped: n}`.

    * **Emitter cost**: the emitting process reads a `:persistent_term`, bumps an
      `:atomics` counter and does one `send/2`. Nothing else runs in it, so nothing it does
      can raise (a handler that raised would be detached by `:telemetry` for good).
    * **Bounded**: the counter holds the events sent to the forwarder and not yet flushed
      (mailbox + buffer). Above `:telemetry_buffer` the emitter drops the event instead of
      sending it and counts it; the count of drops since the previous batch goes out in the
      next batch's `dropped`.
    * **Batching**: a flush happens every `:telemetry_flush_ms` after the first buffered
      event, or as soon as `:telemetry_batch` events are buffered.
    * **Backpressure**: the forwarder writes its frames straight to the sidecar's port with
      `:nosuspend`: while the port is busy (or the sidecar restarts) events stay buffered
      (bounded as above) instead of piling up in the connection's mailbox.
    * **Resilience**: when `:telemetry` is present, the forwarder checks every second that
      its handler is still attached and re-attaches it if not.
    * Metadata is sent raw (terms that have no JSON form are converted: tuples to lists,
      pids/refs/functions inspected); the sidecar computes the quality score on ingestion.
  """

  use GenServer
  require Logger

  alias Pipeline.DSPy.{Executor, JSON, Telemetry}
  alias Pipeline.DSPy.Connection.Frame

  @registry {__MODULE__, :forwarders}
  # atomics slots: 1 = in flight, 2 = dropped since last batch, 3 = dropped total, 4 = sent total
  @inflight 1
  @dropped 2
  @dropped_total 3
  @sent_total 4

  @doc false
  @spec start_link(map) :: GenServer.on_start()
  def start_link(opts), do: GenServer.start_link(__MODULE__, opts, name: opts.forwarder_name)

  @doc "Counts so far: `%{sent: n, dropped: n, buffered: n}`."
  @spec stats(GenServer.server()) :: %{
          sent: non_neg_integer,
          dropped: non_neg_integer,
          buffered: integer
        }
  def stats(forwarder) do
    GenServer.call(forwarder, :stats)
  end

  @doc "Flushes what is buffered now (returns once written to the port, waiting while it is busy; at once when there is no sidecar)."
  @spec flush(GenServer.server(), timeout) :: :ok
  def flush(forwarder, timeout \\ 5_000), do: GenServer.call(forwarder, :flush, timeout)

  ## Emitter side: runs in the emitting process

  @doc false
  @spec dispatch([atom], map, map) :: :ok
  def dispatch(event, measurements, metadata) do
    case :persistent_term.get(@registry, []) do
      [] -> :ok
      targets -> Enum.each(targets, &offer(&1, event, measurements, metadata))
    end
  end

  @doc false
  # :telemetry handler; config is {pid, atomics, max}
  @spec handle_event([atom], map, map, {pid, :atomics.atomics_ref(), pos_integer}) :: :ok
  def handle_event(event, measurements, metadata, target),
    do: offer(target, event, measurements, metadata)

  defp offer({pid, counter, max}, event, measurements, metadata) do
    if :atomics.add_get(counter, @inflight, 1) > max do
      :atomics.sub(counter, @inflight, 1)
      :atomics.add(counter, @dropped, 1)
      :atomics.add(counter, @dropped_total, 1)
    else
      send(
        pid,
        {:telemetry_event, event, measurements, metadata, System.system_time(:millisecond)}
      )
    end

    :ok
  end

  ## Server

  @impl true
  def init(opts) do
    counter = :atomics.new(4, signed: true)
    target = {self(), counter, opts.telemetry_buffer}
    Process.flag(:trap_exit, true)
    register(target)

    state = %{
      target: target,
      counter: counter,
      batch: opts.telemetry_batch,
      flush_ms: opts.telemetry_flush_ms,
      handler_id: {__MODULE__, self()},
      buf: [],
      n: 0,
      port: nil,
      timer: nil
    }

    attach(state)
    if Telemetry.telemetry_available?(), do: Process.send_after(self(), :check_handler, 1_000)

    # After a forwarder restart, learn the current port from a running connection.
    port =
      case Process.whereis(opts.connection_name) do
        pid when is_pid(pid) ->
          try do
            GenServer.call(pid, :port, 1_000)
          catch
            :exit, _ -> nil
          end

        _ ->
          nil
      end

    {:ok, %{state | port: port}}
  end

  @impl true
  def handle_info({:telemetry_event, _, _, _, _} = ev, state) do
    # Drain queued events in a tight receive loop: one gen_server round per burst, not per event.
    {buf, n} = drain([ev | state.buf], state.n + 1, state.batch)
    state = %{state | buf: buf, n: n}

    cond do
      state.n >= state.batch ->
        {:noreply, flush_now(state)}

      state.timer == nil ->
        {:noreply, %{state | timer: Process.send_after(self(), :flush, state.flush_ms)}}

      true ->
        {:noreply, state}
    end
  end

  def handle_info(:flush, state), do: {:noreply, flush_now(%{state | timer: nil})}

  def handle_info({:sidecar_port, port}, state) do
    state = %{state | port: port}
    {:noreply, if(port, do: flush_now(state), else: state)}
  end

  def handle_info(:check_handler, state) do
    attach(state)
    Process.send_after(self(), :check_handler, 1_000)
    {:noreply, state}
  end

  def handle_info(_other, state), do: {:noreply, state}

  @impl true
  def handle_call(:stats, _from, state) do
    c = state.counter

    {:reply,
     %{
       sent: :atomics.get(c, @sent_total),
       dropped: :atomics.get(c, @dropped_total),
       buffered: :atomics.get(c, @inflight)
     }, state}
  end

  # An explicit flush waits for a busy port (a blocking write) instead of leaving events
  # buffered: the caller (flush_telemetry/2) follows it with telemetry/flush, which only
  # covers what was written before it.
  def handle_call(:flush, _from, state), do: {:reply, :ok, flush_now(state, true)}

  @impl true
  def terminate(_reason, state) do
    unregister(state.target)
    if Telemetry.telemetry_available?(), do: apply(:telemetry, :detach, [state.handler_id])
    :ok
  end

  defp drain(buf, n, max) when n >= max, do: {buf, n}

  defp drain(buf, n, max) do
    receive do
      {:telemetry_event, _, _, _, _} = ev -> drain([ev | buf], n + 1, max)
    after
      0 -> {buf, n}
    end
  end

  ## Flushing

  defp flush_now(state, force \\ false)

  defp flush_now(%{port: nil} = state, _force), do: rearm(state)

  defp flush_now(state, force) do
    dropped = :atomics.get(state.counter, @dropped)

    if state.n == 0 and dropped == 0 do
      state
    else
      {batch, rest, k} = take(state)
      :atomics.sub(state.counter, @dropped, dropped)

      if write(state.port, frame(batch, dropped), force) do
        :atomics.sub(state.counter, @inflight, k)
        :atomics.add(state.counter, @sent_total, k)
        state = %{state | buf: rest, n: state.n - k}
        if state.n > 0, do: flush_now(state, force), else: state
      else
        # Port busy or gone: keep the events (bounded by the counter), retry on the next tick.
        :atomics.add(state.counter, @dropped, dropped)
        rearm(state)
      end
    end
  end

  defp rearm(%{timer: nil, n: n} = state) when n > 0,
    do: %{state | timer: Process.send_after(self(), :flush, state.flush_ms)}

  defp rearm(state), do: state

  # Oldest `batch` events (buf is newest first).
  defp take(%{buf: buf, n: n, batch: batch}) when n <= batch, do: {Enum.reverse(buf), [], n}

  defp take(%{buf: buf, n: n, batch: batch}) do
    {newer, older} = Enum.split(buf, n - batch)
    {Enum.reverse(older), newer, batch}
  end

  # Hand-assembled iodata: the envelope and the event names (a handful of distinct ones,
  # cached in the process dictionary) are not re-encoded per event; only measurements and
  # metadata go through the JSON encoder. An event whose terms have no JSON form is
  # converted with `Executor.jsonable/1` (tuples to lists, pids inspected, ...).
  defp frame(batch, dropped) do
    events = Enum.map(batch, &event_io/1) |> Enum.intersperse(?,)
    params = [~s({"events":[), events, ~s(],"dropped":), Integer.to_string(dropped), ?}]
    Frame.notification("telemetry/events", params)
  end

  defp event_io({:telemetry_event, event, m, md, t}) do
    [
      ~s({"event":),
      event_name(event),
      ~s(,"measurements":),
      encode_map(m),
      ~s(,"metadata":),
      encode_map(md),
      ~s(,"time":),
      Integer.to_string(t),
      ?}
    ]
  end

  defp event_name(event) do
    case Process.get({:event_name, event}) do
      nil ->
        io = JSON.encode!(Enum.map(event, &to_string/1))
        Process.put({:event_name, event}, io)
        io

      io ->
        io
    end
  end

  # Measurements and metadata are usually flat maps with atom keys: encode those here with
  # the key strings cached (in this process's dictionary); anything else takes the codec.
  defp encode_map(m) when is_map(m) and map_size(m) == 0, do: "{}"

  defp encode_map(m) when is_map(m) do
    [?{, pairs(:maps.to_list(m)), ?}]
  catch
    :slow -> slow_map(m)
    {:json_encode_error, _, _} -> slow_map(m)
  end

  defp encode_map(other), do: slow_map(%{value: other})

  # Never raises: terms with no JSON form are converted, and what still fails (invalid
  # UTF-8 in a binary, say) is sent as its inspect/1 text.
  defp slow_map(m) do
    with {:error, _} <- JSON.encode_to_iodata(m),
         {:error, _} <- JSON.encode_to_iodata(Executor.jsonable(m)) do
      JSON.encode!(%{unencodable: inspect(m, limit: 50, printable_limit: 1_000)})
    else
      {:ok, io} -> io
    end
  end

  defp pairs([{k, v}]), do: [key_io(k), ?: | value_io(v)]
  defp pairs([{k, v} | rest]), do: [key_io(k), ?:, value_io(v), ?, | pairs(rest)]

  defp key_io(k) when is_atom(k) do
    case Process.get({:json_key, k}) do
      nil ->
        io = IO.iodata_to_binary(JSON.Encoder.string(Atom.to_string(k)))
        Process.put({:json_key, k}, io)
        io

      io ->
        io
    end
  end

  defp key_io(_), do: throw(:slow)

  defp value_io(v) when is_binary(v), do: JSON.Encoder.string(v)
  defp value_io(v) when is_integer(v), do: Integer.to_string(v)
  defp value_io(v) when is_float(v), do: :erlang.float_to_binary(v, [:short])
  defp value_io(nil), do: "null"
  defp value_io(true), do: "true"
  defp value_io(false), do: "false"
  defp value_io(v) when is_atom(v), do: key_io(v)
  defp value_io(_), do: throw(:slow)

  defp write(port, frame, force) do
    if force,
      do: :erlang.port_command(port, frame),
      else: :erlang.port_command(port, frame, [:nosuspend])
  rescue
    ArgumentError -> false
  end

  ## Registration

  # Registration is rare (instance start/stop), so a :persistent_term update is fine here;
  # dead forwarders (killed without terminate) are pruned on the way.
  @doc false
  # For relays (the cluster executor's worker nodes): a local process that receives this
  # node's pipeline events exactly as a forwarder does (`{:telemetry_event, ...}` messages,
  # bounded by its own counter), whether or not the node has `:telemetry`.
  @spec register_target({pid, :atomics.atomics_ref(), pos_integer}) :: :ok
  def register_target({pid, _, _} = target) do
    register(target)

    if Telemetry.telemetry_available?() do
      apply(:telemetry, :attach_many, [{__MODULE__, pid}, Telemetry.events(), &__MODULE__.handle_event/4, target])
    end

    :ok
  end

  @doc false
  @spec unregister_target({pid, :atomics.atomics_ref(), pos_integer}) :: :ok
  def unregister_target({pid, _, _} = target) do
    unregister(target)
    if Telemetry.telemetry_available?(), do: apply(:telemetry, :detach, [{__MODULE__, pid}])
    :ok
  end

  defp register(target), do: update_registry(&[target | &1])
  defp unregister(target), do: update_registry(&List.delete(&1, target))

  defp update_registry(fun) do
    :global.trans(
      {__MODULE__, :registry},
      fn ->
        live =
          Enum.filter(:persistent_term.get(@registry, []), fn {pid, _, _} ->
            Process.alive?(pid)
          end)

        :persistent_term.put(@registry, fun.(live))
      end,
      [node()]
    )
  end

  defp attach(state) do
    if Telemetry.telemetry_available?() do
      handlers = apply(:telemetry, :list_handlers, [[:pipeline]])

      # The handlers of forwarders killed without terminate/2 (brutal kill): each would
      # otherwise stay attached for good, costing every emit an atomics add and a send.
      for %{id: {__MODULE__, pid} = id} <- handlers,
          is_pid(pid),
          not Process.alive?(pid),
          do: apply(:telemetry, :detach, [id])

      unless Enum.any?(handlers, &(&1.id == state.handler_id)) do
        apply(:telemetry, :attach_many, [
          state.handler_id,
          Telemetry.events(),
          &__MODULE__.handle_event/4,
          state.target
        ])
      end
    end
  end
end
