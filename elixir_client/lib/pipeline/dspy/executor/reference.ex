defmodule Pipeline.DSPy.Executor.Reference do
  @moduledoc """
  Runs pipeline_ex workflows the way pipeline_ex runs them, with every LM call going through
  the sidecar (`lm/generate`: one provider config, cache, usage meter and budget), so
  candidates run without pipeline_ex. What it speaks is pipeline_ex's language at commit
  ff625ec, module by module (each cites the pipeline_ex file:line it follows):

    * `Pipeline.DSPy.Template` - `{{...}}` templates: `inputs.`, `steps.` (with the `result`
      fallback), `global_vars.`, `state.`, bare names (unknown: blank), arithmetic, function
      calls; type-preserving, since the run is given inputs;
    * `Reference.PromptBuilder` - prompt parts: `static`, `file`, `previous_response` (the whole
      result map as pretty JSON, or `extract` with `strict`); `session_context` and
      `claude_continue` dropped;
    * `Reference.Conditions` - step conditions: comparisons of step results, `and`/`or`/`not` maps;
    * `Reference.Engine` - the step loop: interpolation, conditions, skipped results, keying;
    * steps: `LmStep` (claude*, gemini*), `ParallelClaude` (each `parallel_tasks[].prompt`),
      `ClaudeBatch` (each `tasks[].prompt`), `SetVariable`, `Loops` (for_loop, while_loop),
      `NestedPipeline` (inline and `pipeline_file`);
    * `DataTransform` (pure), `FileOps` (inside a temporary workspace made for the execution
      and removed after it);
    * `Reference.Preflight` - what it cannot run (file_ops `convert` or paths leaving the
      workspace, condition functions it does not evaluate) is refused before any work, naming
      the step's path, type and why (`check/2`);
    * `Reference.Wire` - the `pipeline/execute` result: `steps`, `order`, `output`, `calls`
      (each LM prompt with its predictor path: `STEP`, `LOOP.steps.INNER`, `STEP.tasks[ID]`,
      `STEP.parallel_tasks[ID]`), `usage`.

  Not emulated: checkpoints (`checkpoint_enabled` is ignored: every execution starts fresh,
  as each candidate must), `output_to_file` (nothing is written outside file_ops' workspace),
  provider behaviour beyond one LM call per prompt (claude_robust retries, sessions, tools),
  result streaming. Steps run one at a time (parallel tasks included): same results, a
  deterministic call order.

  Where pipeline_ex crashes (a map interpolated into text, a `previous_response` of a step
  that did not run, a missing prompt file, a plain-string prompt), the run fails with the same
  message; the result is `status: "error"` with the steps that ran.

  Options (as `{Reference, opts}`): `:base_dir` (relative `file` parts and `pipeline_file`s;
  default the cwd), `:generate` (a 2-arity fun replacing `Pipeline.DSPy.generate/2`),
  `:load` (a 1-arity fun replacing `Pipeline.DSPy.load_workflow/2` for `pipeline_file`),
  `:max_calls` (LM calls per execution, default 1000), `:max_loop_items` (default 1000),
  `:workspace` (the directory file_ops work in, kept; default a temporary one per execution,
  removed after it).
  """

  @behaviour Pipeline.DSPy.Executor

  alias Pipeline.DSPy.Executor
  alias Pipeline.DSPy.Executor.Reference.{Calls, Engine, Preflight, Wire}

  @impl true
  def execute(config, inputs, context) do
    with {:ok, config} <- workflow(config) do
      ref = ref(context)

      case Preflight.check(config, ref) do
        {:refused, r} ->
          {:ok, refused(r)}

        {:ok, files} ->
          given = opt(context, :workspace)
          workspace = given || if(files[:uses_file_ops], do: make_workspace())
          previous = Calls.start()

          outcome =
            try do
              Engine.run_workflow(config, inputs || %{}, %{
                ref
                | files: files,
                  workspace: workspace
              })
            after
              if workspace && !given, do: File.rm_rf(workspace)
            end

          calls = Calls.stop(previous)

          case outcome do
            {:ok, ctx} -> {:ok, Wire.build(ctx, calls)}
            {:error, msg, ctx} -> {:ok, Wire.build(ctx, calls, msg)}
          end
      end
    end
  end

  @doc """
  What the Reference executor would refuse before any work: `:ok` or
  `{:refused, %{path: "workflow.steps[1]", type: "data_transform", reason: "..."}}`.
  `context` as for `execute/3` (its `:executor_opts` give `:base_dir` and `:load`).
  """
  @spec check(Executor.workflow(), Executor.context()) ::
          :ok | {:refused, Preflight.refusal()} | {:error, String.t()}
  def check(config, context \\ %{}) do
    with {:ok, config} <- workflow(config) do
      case Preflight.check(config, ref(context)) do
        {:ok, _} -> :ok
        refused -> refused
      end
    end
  end

  defp refused(%{path: p, type: t, reason: why}),
    do: %{
      "status" => "error",
      "steps" => %{},
      "order" => [],
      "output" => nil,
      "calls" => [],
      "error" => "refused before any work by the Reference executor: #{p} (#{t}): #{why}"
    }

  defp workflow(config) do
    config = deep_strings(config)
    wf = config["workflow"] || (is_list(config["steps"]) && config)

    if is_map(wf) and is_list(wf["steps"]) and wf["steps"] != [],
      do: {:ok, %{"workflow" => wf}},
      else: {:error, "workflow has no steps (expected workflow.steps to be a non-empty list)"}
  end

  defp deep_strings(m) when is_map(m) and not is_struct(m),
    do: Map.new(m, fn {k, v} -> {to_string(k), deep_strings(v)} end)

  defp deep_strings(l) when is_list(l), do: Enum.map(l, &deep_strings/1)
  defp deep_strings(v), do: v

  defp ref(context) do
    server = context[:server] || Pipeline.DSPy

    gen_opts =
      [server: server, timeout: context[:timeout_ms] || 60_000]
      |> put_kw(:lm, context[:lm])
      |> put_kw(:run_id, context[:run_id])
      |> put_kw(:rollout_id, context[:rollout_id])
      |> put_kw(:temperature, context[:temperature])

    %{
      generate: opt(context, :generate) || (&Pipeline.DSPy.generate/2),
      generate_opts: gen_opts,
      load: opt(context, :load) || (&Pipeline.DSPy.load_workflow(&1, server: server)),
      base_dir: opt(context, :base_dir),
      max_calls: opt(context, :max_calls) || 1000,
      max_loop_items: opt(context, :max_loop_items) || 1000,
      path: [],
      depth: 0,
      files: %{},
      workspace: nil
    }
  end

  # file_ops run here, never in the host's directories
  defp make_workspace do
    dir = Path.join(System.tmp_dir!(), "reference_ws_#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    dir
  end

  defp opt(context, key) do
    case context[:executor_opts] do
      opts when is_list(opts) -> opts[key]
      opts when is_map(opts) -> opts[key]
      _ -> nil
    end
  end

  defp put_kw(kw, _k, nil), do: kw
  defp put_kw(kw, k, v), do: Keyword.put(kw, k, v)
end
