defmodule Pipeline.DSPy.Executor.PipelineEx do
  @moduledoc """
  Runs candidates with pipeline_ex itself: `Pipeline.execute(config, opts)`.

  Requires pipeline_ex in the host application (`{:pipeline, ...}`); without it every
  execution returns `{:error, "pipeline_ex is not loaded ..."}`. Per execution:

    * **Directories**: a candidate (an execution with a `candidate_id`: every one an
      optimize/evaluate run asks for) gets fresh checkpoint, output and workspace directories
      under `System.tmp_dir!/0`, removed afterwards (`Pipeline.DSPy.Executor.PipelineEx.Dirs`),
      so no candidate sees another's checkpoints or files. `dirs: :shared` runs candidates in
      pipeline_ex's own directories instead (the workflow's keys, else `./checkpoints`,
      `./outputs`, `./workspace`): only when the user asks for it. Your own production calls
      (`Executor.execute(PipelineEx, config, inputs, %{})`, no candidate id) run there too,
      keeping their outputs; `dirs: :isolated` isolates them as well.
    * **Inputs**: passed as `opts[:inputs]`, maps and lists JSON-encoded where a template uses
      them inside text (`Pipeline.DSPy.Executor.PipelineEx.Inputs`).
    * **LM settings**: the run's model (an `anthropic:MODEL` spec) and temperature written
      into each LLM step's options where pipeline_ex reads them
      (`Pipeline.DSPy.Executor.PipelineEx.LMSettings`).
    * `enable_monitoring: false`: pipeline_ex's monitor is one process per pipeline name, shared
      by concurrent candidates of the same workflow.
    * **Results**: pipeline_ex's step map becomes the wire result by
      `Pipeline.DSPy.Executor.PipelineEx.Result` (answer in `text`/`output`, engine extras in
      `metadata`, skipped steps, `order`, `calls`, `usage`), with `externalUsage` marking the
      spend its own providers made: the sidecar charges it to the run's meter and budget.
    * **Telemetry**: pipeline_ex emits none during a run; `Pipeline.DSPy.Executor` emits the
      execution events around this call, and one `[:pipeline, :step, :stop]` per top-level
      step is emitted here from the results (`duration: 0`: pipeline_ex does not return step
      timings; `skipped: true` for skipped steps).

  Options (as `{PipelineEx, opts}`):

    * `:execute_opts` - a keyword list added to the `Pipeline.execute/2` options (wins);
    * `:dirs` - `:isolated`, `:shared`, or by default isolated for candidates only;
    * `:pipeline` - what to call instead of `Pipeline.execute/2`: a module with `execute/2`
      or a 2-arity function (tests use `PipelineExDouble`).
  """

  @behaviour Pipeline.DSPy.Executor

  alias Pipeline.DSPy.{Executor, Telemetry}
  alias Pipeline.DSPy.Executor.PipelineEx.{Dirs, Inputs, LMSettings, Result}

  @impl true
  def execute(config, inputs, context) do
    opts = executor_opts(context)

    case engine(opts) do
      nil ->
        {:error,
         "pipeline_ex is not loaded: add {:pipeline, ...} to the host app's deps, or use Pipeline.DSPy.Executor.Reference"}

      run ->
        config = Executor.jsonable(config)
        dirs = if isolate?(opts[:dirs], context), do: Dirs.create()

        try do
          prepared = config |> LMSettings.apply(context) |> maybe_dirs(dirs)

          exec_opts =
            [inputs: Inputs.encode(inputs || %{}, prepared), enable_monitoring: false]
            |> Keyword.merge(if dirs, do: Dirs.execute_opts(dirs), else: [])
            |> Keyword.merge(opts[:execute_opts] || [])

          case run.(prepared, exec_opts) do
            {:ok, results} when is_map(results) ->
              wire = Result.to_wire(results, prepared)
              emit_steps(wire, prepared, context)
              {:ok, wire}

            {:error, reason} ->
              {:error, reason}

            other ->
              {:error, "Pipeline.execute/2 returned #{inspect(other, limit: 10)}"}
          end
        after
          if dirs, do: Dirs.remove(dirs)
        end
    end
  end

  defp executor_opts(context) do
    case context[:executor_opts] do
      o when is_list(o) -> o
      o when is_map(o) -> Map.to_list(o)
      _ -> []
    end
  end

  defp engine(opts) do
    case opts[:pipeline] do
      f when is_function(f, 2) ->
        f

      m when is_atom(m) and m != nil ->
        &m.execute/2

      nil ->
        if Code.ensure_loaded?(Pipeline) and function_exported?(Pipeline, :execute, 2),
          do: &apply(Pipeline, :execute, [&1, &2]),
          else: nil
    end
  end

  # a candidate of an optimize/evaluate run (it has a candidate id) is isolated; your own
  # production calls run where pipeline_ex puts things, unless told otherwise
  defp isolate?(:isolated, _), do: true
  defp isolate?(:shared, _), do: false
  defp isolate?(_, context), do: context[:candidate_id] != nil

  defp maybe_dirs(config, nil), do: config
  defp maybe_dirs(config, dirs), do: Dirs.apply(config, dirs)

  defp emit_steps(wire, config, context) do
    types = Map.new(Result.workflow_steps(config), &{&1["name"], &1["type"]})

    for name <- wire["order"] do
      s = wire["steps"][name]

      Telemetry.emit([:pipeline, :step, :stop], %{duration: 0, duration_ms: 0}, %{
        pipeline_name: Executor.pipeline_name(config),
        step_name: name,
        step_type: types[name],
        success: s["success"],
        skipped: s["skipped"] == true,
        usage: s["usage"],
        run_id: context[:run_id],
        error: nil
      })
    end
  end
end
