defmodule Pipeline.DSPy.Executor.PipelineEx do
  @moduledoc """
  Runs candidates with pipeline_ex itself: `Pipeline.execute(config, opts)`.

  Requires pipeline_ex in the host application (`{:pipeline, ...}`); without it every
  execution returns `{:error, "pipeline_ex is not loaded ..."}`. Results (keyed by step name;
  live Claude results use atom keys, mocked ones string keys) are normalised to string keys
  by `Pipeline.DSPy.Executor`. Inputs are passed as `opts[:inputs]` and merged into the
  workflow's `global_vars` under `inputs`, since pipeline_ex has no inputs concept of its own.
  pipeline_ex emits no telemetry during a run, so step events are derived afterwards from
  its per-step results (`[:pipeline, :step, :stop]` with `duration: 0`).

  Options (as `{PipelineEx, opts}`): `:execute_opts`, a keyword list passed to
  `Pipeline.execute/2` (e.g. `output_dir:`, `workspace_dir:`).
  """

  @behaviour Pipeline.DSPy.Executor

  alias Pipeline.DSPy.{Executor, Telemetry}

  @impl true
  def execute(config, inputs, context) do
    if Code.ensure_loaded?(Pipeline) and function_exported?(Pipeline, :execute, 2) do
      extra = (is_list(context[:executor_opts]) && context[:executor_opts][:execute_opts]) || []
      config = with_inputs(config, inputs)

      case apply(Pipeline, :execute, [config, Keyword.merge([inputs: inputs], extra)]) do
        {:ok, results} when is_map(results) ->
          steps = Map.new(results, fn {k, v} -> {to_string(k), normalize(v)} end)
          emit_steps(steps, config, context)
          {:ok, steps}

        {:error, reason} ->
          {:error, reason}

        other ->
          {:error, "Pipeline.execute/2 returned #{inspect(other, limit: 10)}"}
      end
    else
      {:error,
       "pipeline_ex is not loaded: add {:pipeline, ...} to the host app's deps, or use Pipeline.DSPy.Executor.Reference"}
    end
  end

  defp with_inputs(%{"workflow" => wf} = config, inputs) when is_map(wf) do
    gv = Map.merge(wf["global_vars"] || %{}, %{"inputs" => inputs})
    Map.put(config, "workflow", Map.put(wf, "global_vars", gv))
  end

  defp with_inputs(config, _inputs), do: config

  defp normalize(v) when is_map(v),
    do: v |> Executor.stringify_keys() |> Map.new(fn {k, x} -> {k, Executor.jsonable(x)} end)

  defp normalize(v), do: Executor.jsonable(v)

  defp emit_steps(steps, config, context) do
    for {name, s} <- steps do
      Telemetry.emit([:pipeline, :step, :stop], %{duration: 0, duration_ms: 0}, %{
        pipeline_name: Executor.pipeline_name(config),
        step_name: name,
        step_type: nil,
        success: not (is_map(s) and s["success"] == false),
        usage: nil,
        run_id: context[:run_id],
        error: nil
      })
    end
  end
end
