defmodule Pipeline.DSPy.Promotions do
  @moduledoc """
  Who hears about promoted configs (`learning/promoted` from the sidecar; the connection
  also logs each one with `Logger.info`).

  Each `Pipeline.DSPy` instance runs this small process (`:"<instance>.Promotions"`),
  started before the connection. It monitors (never links) its subscribers
  (`Pipeline.DSPy.subscribe_promotions/1`): a subscription ends with the subscriber's process
  and survives restarts of the sidecar and of the connection process; stopping the instance
  does not touch the subscribers.

  On a promotion:

    * every subscriber gets `{:dspy_promoted, pipeline_name, info}` (sent by the connection
      process, so before the reply of the `optimize_now/2` that caused it), where `info` is the
      notification's params as received, string keys:
      `%{"pipeline" => name, "version" => int, "config" => workflow_map,
         "decision" => guard_summary, "ledgerId" => id, "promotedAt" => iso8601}`
      (the same shape `Pipeline.DSPy.current_config/2` returns);
    * this process emits the telemetry event `[:pipeline, :dspy, :promoted]` when the host app has
      `:telemetry`, with measurements `%{version: int, system_time: native}` and metadata
      `%{server: instance, pipeline: name, version: int, config: map, decision: map,
      ledger_id: id, promoted_at: iso8601}`. (It is not forwarded to the sidecar.)
  """

  use GenServer

  # Not a Registry: Registry.register/3 links the subscriber to the registry, so stopping a
  # Pipeline.DSPy instance would kill its subscribers. This process monitors them instead.

  @doc false
  @spec name(Pipeline.DSPy.server()) :: atom
  def name(server), do: :"#{server}.Promotions"

  @doc false
  @spec child_spec(Pipeline.DSPy.server()) :: Supervisor.child_spec()
  def child_spec(server),
    do: %{
      id: :promotions,
      start: {GenServer, :start_link, [__MODULE__, server, [name: name(server)]]}
    }

  @doc false
  @spec subscribe(Pipeline.DSPy.server(), pid) :: :ok | {:error, Pipeline.DSPy.Error.t()}
  def subscribe(server, pid \\ self()), do: call(server, {:subscribe, pid})

  @doc false
  @spec unsubscribe(Pipeline.DSPy.server(), pid) :: :ok
  def unsubscribe(server, pid \\ self()) do
    case call(server, {:unsubscribe, pid}) do
      {:error, _} -> :ok
      ok -> ok
    end
  end

  @doc false
  @spec subscribers(Pipeline.DSPy.server()) :: [pid] | {:error, Pipeline.DSPy.Error.t()}
  def subscribers(server), do: call(server, :subscribers)

  @doc false
  # Called by the connection. The messages are sent from the connection process itself, so a
  # subscriber that is also the caller of optimize_now/2 gets {:dspy_promoted, ...} before
  # the reply (same sender, ordered); the telemetry event runs here, off the Port owner
  # (handlers are the host's code).
  @spec broadcast(Pipeline.DSPy.server(), String.t(), map) :: :ok
  def broadcast(server, pipeline, params) do
    msg = {:dspy_promoted, pipeline, params}

    try do
      for {pid, _} <- :ets.tab2list(name(server)), do: send(pid, msg)
    rescue
      ArgumentError -> :ok
    end

    GenServer.cast(name(server), {:promoted, pipeline, params})
  end

  defp call(server, msg) do
    GenServer.call(name(server), msg)
  catch
    :exit, _ ->
      {:error,
       Pipeline.DSPy.Error.new(
         :invalid_argument,
         "no running Pipeline.DSPy instance named #{inspect(server)}"
       )}
  end

  @impl true
  def init(server) do
    # subscriber pid => monitor ref; written here only, read by the connection
    table = :ets.new(name(server), [:named_table, :protected, :set, read_concurrency: true])
    {:ok, %{server: server, table: table}}
  end

  @impl true
  def handle_call({:subscribe, pid}, _from, state) do
    unless :ets.member(state.table, pid),
      do: :ets.insert(state.table, {pid, Process.monitor(pid)})

    {:reply, :ok, state}
  end

  def handle_call({:unsubscribe, pid}, _from, state) do
    case :ets.lookup(state.table, pid) do
      [{^pid, mref}] ->
        Process.demonitor(mref, [:flush])
        :ets.delete(state.table, pid)

      [] ->
        :ok
    end

    {:reply, :ok, state}
  end

  def handle_call(:subscribers, _from, state),
    do: {:reply, for({pid, _} <- :ets.tab2list(state.table), do: pid), state}

  @impl true
  def handle_cast({:promoted, pipeline, params}, state) do
    if Pipeline.DSPy.Telemetry.telemetry_available?() do
      apply(:telemetry, :execute, [
        [:pipeline, :dspy, :promoted],
        %{version: params["version"], system_time: System.system_time()},
        %{
          server: state.server,
          pipeline: pipeline,
          version: params["version"],
          config: params["config"],
          decision: params["decision"],
          ledger_id: params["ledgerId"],
          promoted_at: params["promotedAt"]
        }
      ])
    end

    {:noreply, state}
  end

  @impl true
  def handle_info({:DOWN, _mref, :process, pid, _}, state) do
    :ets.delete(state.table, pid)
    {:noreply, state}
  end
end
