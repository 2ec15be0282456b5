defmodule Pipeline.DSPy.Executor.Reference.Engine do
  @moduledoc """
  Runs a workflow's steps as `Pipeline.Executor` does (lib/pipeline/executor.ex at ff625ec;
  line numbers are that file's), over a context shaped like pipeline_ex's: `:results` (step
  name => result), `:variable_state`, `:global_vars` (the workflow's), `:inputs`, `:config`,
  plus `:ref` (this executor's options and the predictor path) and `:log` (what ran).

  Per step (254-309, 311-324, 440-458): the whole step is interpolated first (`Template`,
  766-781); a `condition` (as interpolated) that is false records
  `%{"success" => true, "skipped" => true, "reason" => "Condition not met: ..."}` (275-279;
  wrapped in `"result"` for a `pipeline` step with inputs, 281-289; a map condition raises in
  that message, as it does in pipeline_ex); otherwise the step runs and its result is stored
  under its name (wrapped in `"result"` for a `pipeline` step with inputs, 443-450). A step
  error stops the run: "Step 'NAME' failed: REASON\\nStep type: TYPE" (509-515, without the
  timing line); a raise is "Pipeline execution crashed: MESSAGE\\nWorkflow: W\\nStep: i/n"
  (95-115, without the stack trace). `output_to_file` is not written.
  """

  alias Pipeline.DSPy.Executor.Reference.{
    DataTransform,
    FileOps,
    ClaudeBatch,
    Conditions,
    LmStep,
    Loops,
    NestedPipeline,
    ParallelClaude,
    Preflight,
    SetVariable
  }

  alias Pipeline.DSPy.{Telemetry, Template}

  @typedoc "A step as written in the workflow (string keys)."
  @type step :: %{optional(String.t()) => term}

  @typedoc """
  This executor's options and where it is (built by `Pipeline.DSPy.Executor.Reference`):
  the LM and loader functions, limits, the predictor path and nesting depth, the pipeline
  files loaded by the preflight check, and the file_ops workspace.
  """
  @type ref :: %{
          generate: ([map] | String.t(), keyword -> {:ok, map} | {:error, term}),
          generate_opts: keyword,
          load: (Path.t() -> {:ok, map} | {:error, term}),
          base_dir: Path.t() | nil,
          max_calls: non_neg_integer,
          max_loop_items: non_neg_integer,
          path: [String.t()],
          depth: non_neg_integer,
          files: Preflight.files(),
          workspace: Path.t() | nil
        }

  @typedoc "What ran: one entry per step, in order."
  @type log_entry :: %{
          name: String.t() | nil,
          type: String.t() | nil,
          status: :completed | :failed | :skipped,
          duration_ms: float | nil,
          error: term
        }

  @typedoc "The execution context (a `Pipeline.DSPy.Template.context/0` with the engine's keys)."
  @type ctx :: %{
          required(:results) => %{optional(String.t()) => term},
          required(:variable_state) => Template.state(),
          required(:inputs) => map,
          required(:config) => map,
          required(:workflow_name) => String.t() | nil,
          required(:ref) => ref,
          required(:log) => [log_entry],
          optional(:global_vars) => map,
          optional(:ref_iteration) => non_neg_integer
        }

  @typedoc """
  What running a step gives: its result, its result and the context it changed
  (`set_variable`), or why it failed.
  """
  @type step_outcome :: {:ok, term} | {:ok, term, ctx} | {:error, String.t()}

  @supported ~w(set_variable claude gemini parallel_claude gemini_instructor claude_smart claude_session claude_extract claude_batch claude_robust for_loop while_loop data_transform file_ops pipeline)

  @doc """
  Runs `config` (with its `workflow` root) given `inputs`. `{:ok, ctx}` or
  `{:error, message, ctx}` (ctx: what ran until then).
  """
  @spec run_workflow(map, map, ref, non_neg_integer | nil) ::
          {:ok, ctx} | {:error, String.t(), ctx}
  def run_workflow(config, inputs, ref, iteration \\ nil) do
    wf = config["workflow"]

    ctx =
      %{
        results: %{},
        variable_state: Template.new_state(),
        inputs: inputs,
        config: config,
        workflow_name: wf["name"],
        ref: ref,
        log: []
      }
      |> then(fn c ->
        if wf["global_vars"], do: Map.put(c, :global_vars, wf["global_vars"]), else: c
      end)
      |> then(fn c -> if iteration, do: Map.put(c, :ref_iteration, iteration), else: c end)

    steps = wf["steps"]
    total = length(steps)

    steps
    |> Enum.with_index()
    |> Enum.reduce_while({:ok, ctx}, fn {step, i}, {:ok, acc} ->
      try do
        case run_step(step, acc) do
          {:ok, next} -> {:cont, {:ok, next}}
          {:error, msg, next} -> {:halt, {:error, msg, next}}
        end
      rescue
        e ->
          msg =
            "Pipeline execution crashed: #{Exception.message(e)}\nWorkflow: #{wf["name"] || "unnamed"}\nStep: #{i + 1}/#{total}"

          {:halt, {:error, msg, log(acc, step, :failed, nil, msg)}}
      end
    end)
  end

  defp run_step(step, ctx) do
    interpolated = Template.interpolate_data(step, ctx)
    name = step["name"]

    if interpolated["condition"] == nil or Conditions.evaluate(interpolated["condition"], ctx) do
      t0 = System.monotonic_time()

      case dispatch(interpolated, ctx) do
        {:ok, result} ->
          {:ok, ctx |> store(step, result) |> log(step, :completed, t0)}

        {:ok, result, updated} ->
          {:ok, updated |> store(step, result) |> log(step, :completed, t0)}

        {:error, reason} ->
          {:error, "Step '#{name}' failed: #{reason}\nStep type: #{step["type"]}",
           log(ctx, step, :failed, t0, reason)}
      end
    else
      skipped = %{
        "success" => true,
        "skipped" => true,
        "reason" => "Condition not met: #{step["condition"] || "N/A"}"
      }

      {:ok, ctx |> store(step, skipped) |> log(step, :skipped, nil)}
    end
  end

  defp store(ctx, step, result) do
    wrapped =
      if step["type"] == "pipeline" and has_inputs?(step), do: %{"result" => result}, else: result

    %{ctx | results: Map.put(ctx.results, step["name"], wrapped)}
  end

  defp has_inputs?(step), do: is_map(step["inputs"]) and map_size(step["inputs"]) > 0

  defp log(ctx, step, status, t0, error \\ nil) do
    ms =
      if t0,
        do: System.convert_time_unit(System.monotonic_time() - t0, :native, :microsecond) / 1000,
        else: nil

    entry = %{
      name: step["name"],
      type: step["type"],
      status: status,
      duration_ms: ms,
      error: error
    }

    if status != :skipped, do: emit(ctx, entry, t0)
    %{ctx | log: ctx.log ++ [entry]}
  end

  # pipeline_ex emits no per-step telemetry: ours, documented in Pipeline.DSPy.Telemetry
  defp emit(ctx, e, t0) do
    duration = if t0, do: System.monotonic_time() - t0, else: 0

    Telemetry.emit(
      [:pipeline, :step, :stop],
      %{duration: duration, duration_ms: e.duration_ms || 0},
      %{
        pipeline_name: ctx.workflow_name,
        step_name: e.name,
        step_type: e.type,
        success: e.status == :completed,
        usage: nil,
        run_id: ctx.ref.generate_opts[:run_id],
        error: e.error && to_string(e.error)
      }
    )
  end

  # do_execute_step/2 (517-600)
  defp dispatch(step, ctx) do
    case dispatch_common(step, ctx) do
      :not_common -> dispatch_more(step, ctx)
      result -> result
    end
  end

  defp dispatch_more(step, ctx) do
    type = step["type"]

    cond do
      type in ["for_loop", "while_loop"] ->
        Loops.execute(step, ctx)

      type == "pipeline" ->
        NestedPipeline.execute(step, ctx)

      type == "data_transform" ->
        DataTransform.execute(step, ctx)

      type == "file_ops" ->
        FileOps.execute(step, ctx)

      true ->
        {:error,
         "Invalid workflow: Step '#{step["name"]}' has invalid type '#{type}'. Supported types: #{Enum.join(@supported, ", ")}"}
    end
  end

  @doc """
  The step types both the executor and a loop body dispatch the same way (executor.ex:517-551,
  loop.ex:554-581): the LLM steps and set_variable. `:not_common` for the others.
  """
  @spec dispatch_common(step, ctx) :: step_outcome | :not_common
  def dispatch_common(step, ctx) do
    type = step["type"]

    cond do
      type in LmStep.types() -> LmStep.execute(step, ctx)
      type == "parallel_claude" -> ParallelClaude.execute(step, ctx)
      type == "claude_batch" -> ClaudeBatch.execute(step, ctx)
      type == "set_variable" -> SetVariable.execute(step, ctx)
      true -> :not_common
    end
  end
end
