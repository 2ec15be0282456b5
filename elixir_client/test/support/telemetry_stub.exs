# Loaded only into a child BEAM by telemetry_test.exs: a minimal stand-in for the :telemetry
# library (which cannot be fetched here) with its documented semantics, including that a
# handler which raises is detached for good.
defmodule :telemetry do
  def attach_many(id, events, fun, config) do
    if Enum.any?(list_handlers([]), &(&1.id == id)) do
      {:error, :already_exists}
    else
      :ets.insert(table(), {id, events, fun, config})
      :ok
    end
  end

  def detach(id) do
    :ets.delete(table(), id)
    :ok
  end

  def list_handlers(_prefix) do
    for {id, events, fun, config} <- :ets.tab2list(table()),
        do: %{id: id, event_name: hd(events), function: fun, config: config}
  end

  def execute(event, measurements, metadata) do
    for {id, events, fun, config} <- :ets.tab2list(table()), event in events do
      try do
        fun.(event, measurements, metadata, config)
      rescue
        _ -> detach(id)
      end
    end

    :ok
  end

  defp table do
    case :ets.whereis(:telemetry_stub) do
      :undefined ->
        :ets.new(:telemetry_stub, [:named_table, :public, :set])

      t ->
        t
    end
  end
end

# As with the real library, the handler table outlives every caller (here: a process that
# never exits owns it), so a handler attached by a process that dies stays attached.
owner = self()

spawn(fn ->
  :ets.new(:telemetry_stub, [:named_table, :public, :set])
  send(owner, :telemetry_stub_ready)
  Process.sleep(:infinity)
end)

receive do
  :telemetry_stub_ready -> :ok
end
