defmodule Pipeline.DSPy.Telemetry do
  @moduledoc """
  Telemetry events of pipeline executions, and how they reach the sidecar.

  ## Events

  | event | measurements | metadata |
  |---|---|---|
  | `[:pipeline, :execution, :start]` | `system_time` (native) | `pipeline_name`, `run_id`, `candidate_id`, `example_id`, `executor`, `input` |
  | `[:pipeline, :execution, :stop]` | `duration` (native), `duration_ms` (float) | the start metadata plus `status` (`"ok"`/`"error"`), `success` (bool), `result` (the wire result: steps, output, usage, error) |
  | `[:pipeline, :execution, :exception]` | `duration`, `duration_ms` | the start metadata plus `kind`, `reason` (formatted) |
  | `[:pipeline, :step, :stop]` | `duration`, `duration_ms` | `pipeline_name`, `step_name`, `step_type`, `success`, `usage`, `run_id`, `error` |

  `Pipeline.DSPy.Executor` emits the execution events for every executor; the Reference
  executor emits a step event per step; for `PipelineEx` (pipeline_ex emits nothing itself)
  step events are derived from its per-step results after the run. Host code may emit the
  same events itself with `emit/3` (or `:telemetry.execute/3`).

  ## Delivery

  When the host app has `:telemetry`, `emit/3` is `:telemetry.execute/3`, and each
  `Pipeline.DSPy` instance's forwarder attaches a handler (`:telemetry.attach_many/4`) for the
  events above. Without `:telemetry`, `emit/3` hands the event straight to every running
  forwarder. Either way the emitting process does one `:persistent_term` read, one
  `:atomics` add and one `send/2` per forwarder (see `Pipeline.DSPy.Telemetry.Forwarder`).

  Telemetry is global to the BEAM (as `:telemetry` handlers are): with several
  `Pipeline.DSPy` instances running, each forwards every event to its own sidecar. Start the
  others with `telemetry: false` if only one should record.

  ## Quality score

  The seed's heuristic (8.5 when status is success and `findings` is non-empty, 7.0 on
  success, 5.0 partial, 2.0 otherwise) is **computed by the sidecar when it ingests**
  `telemetry/events`; the forwarder sends raw measurements and metadata (including the
  `result`), so the heuristic lives in one place and can change without redeploying the
  Elixir side.
  """

  alias Pipeline.DSPy.Telemetry.Forwarder

  @events [
    [:pipeline, :execution, :start],
    [:pipeline, :execution, :stop],
    [:pipeline, :execution, :exception],
    [:pipeline, :step, :stop]
  ]

  @doc "The events forwarded to the sidecar."
  @spec events() :: [[atom, ...], ...]
  def events, do: @events

  @doc "Whether the host app has the `:telemetry` library."
  @spec telemetry_available?() :: boolean
  def telemetry_available? do
    case :persistent_term.get({__MODULE__, :available}, nil) do
      nil ->
        v = Code.ensure_loaded?(:telemetry) and function_exported?(:telemetry, :execute, 3)
        :persistent_term.put({__MODULE__, :available}, v)
        v

      v ->
        v
    end
  end

  @doc """
  Emits an event: `:telemetry.execute/3` when available, else straight to the forwarders
  (only the `events/0`, as with `:telemetry`, where the forwarders attach to those alone).
  """
  @spec emit([atom], map, map) :: :ok
  def emit(event, measurements, metadata) do
    cond do
      telemetry_available?() -> apply(:telemetry, :execute, [event, measurements, metadata])
      event in @events -> Forwarder.dispatch(event, measurements, metadata)
      true -> :ok
    end

    :ok
  end
end
