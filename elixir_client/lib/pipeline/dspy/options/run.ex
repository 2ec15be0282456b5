defmodule Pipeline.DSPy.Options.Run do
  @moduledoc false
  # What `optimize` and `evaluate` have in common: the option specs their schemas pick from,
  # the wire params built from validated options, and the way back from a wire field the
  # sidecar names in an error (`budget.maxUsd`) to the option the caller wrote (`budget_usd`).

  alias Pipeline.DSPy.Error

  @budget_keys [
    max_calls: [type: :non_neg_integer, doc: "stop after this many LM calls"],
    max_tokens: [type: :non_neg_integer, doc: "stop after this many tokens (in + out)"],
    max_usd: [type: :non_neg_number, doc: "stop after this cost in USD"],
    max_wall_ms: [type: :non_neg_integer, doc: "stop after this wall time (ms)"]
  ]

  @specs [
    training_data: [
      type:
        {:custom, {__MODULE__, :training_data?},
         "a directory path or a list of examples `%{input: map, expected_output: map}`"},
      doc:
        "the examples: a directory (sent as `{dir}`, made absolute, must exist) or inline examples (sent as `{examples}`)"
    ],
    optimizer: [
      type: :name,
      doc_default: "`\"BootstrapFewShot\"`",
      doc:
        "`\"LabeledFewShot\"`, `\"BootstrapFewShot\"`, `\"BootstrapFewShotWithRandomSearch\"`, `\"MIPROv2\"`, `\"GEPA\"` or their snake_case spellings"
    ],
    optimizer_options: [
      type: :keyword_or_map,
      doc:
        "the optimizer's own options (PROTOCOL.md); atom keys in snake_case are sent in camelCase"
    ],
    dry_run: [
      type: :boolean,
      default: false,
      doc:
        "spend nothing: return what the run would spend (`optimizer.options.dryRun`); refused, naming the optimizer, by optimizers that cannot estimate"
    ],
    metric: [
      type: {:or, [:name, :map]},
      doc_default: "the workflow's `dspy.metric`",
      doc: "the metric's name (or `%{name:, options:}`)"
    ],
    metric_options: [type: :keyword_or_map, doc: "the metric's options"],
    lm: [
      type: :string,
      doc_default: "the sidecar's default",
      doc: "LM spec, e.g. `\"anthropic:claude-...\"`, `\"offline\"`"
    ],
    reflection_lm: [
      type: :string,
      doc_default: "`:lm`",
      doc:
        "GEPA's reflection LM (LM spec): it reads executions with the metric's feedback and proposes new instructions"
    ],
    seed: [type: :integer, doc: "makes the run repeatable"],
    budget_usd: [
      type: :pos_number,
      doc: "stop spending at this cost in USD (short for `budget: [max_usd: x]`)"
    ],
    budget: [
      type: :keys,
      keys: @budget_keys,
      doc: "caps on the run; it stops (cut short) at the first reached"
    ],
    out: [
      type: :string,
      doc_default: "the sidecar's cwd",
      doc:
        "output directory (sent as `outDir`, made absolute); runs journal under `OUT/.elexirion/runs/ID/`"
    ],
    run_id: [
      type: :string,
      doc: "the run's id; an interrupted run given the same id resumes from its journal"
    ],
    concurrency: [type: :pos_integer, doc: "executions in flight at once"],
    val_fraction: [
      type: {:custom, {__MODULE__, :fraction?}, "a number between 0 and 1 (exclusive)"},
      doc_default: "`0.25`",
      doc: "share of the examples held out to score on (seeded split)"
    ],
    steps: [type: {:list, :string}, doc_default: "every LLM step", doc: "the steps to optimize"],
    signatures: [
      type: :keyword_or_map,
      doc:
        "per-step signature overrides by step name: a DSPy signature string or `%{inputs:, outputs:, instructions:}`"
    ],
    name: [type: :string, doc_default: "the workflow name", doc: "output name"],
    execution_timeout_ms: [
      type: :pos_integer,
      doc_default: "`120000`",
      doc: "timeout of each `pipeline/execute` callback"
    ],
    write_anyway: [
      type: :boolean,
      default: false,
      doc:
        "write the optimized config even when the best is not better than the baseline beyond noise"
    ],
    report: [
      type: :boolean,
      default: true,
      doc:
        "write `run.json` and the self-contained HTML report into the run directory (`reportPath` in the result)"
    ],
    params: [type: :keyword_or_map, doc: "extra wire params, merged as given (escape hatch)"],
    executor: [
      type:
        {:custom, {Pipeline.DSPy.Options, :executor?},
         "a module implementing Pipeline.DSPy.Executor (execute/3), {module, opts} or a 3-arity function"},
      doc_default: "the instance's `:executor`",
      doc:
        "runs this run's `pipeline/execute` callbacks (other runs keep the instance's), e.g. `{Pipeline.DSPy.Executor.Cluster, nodes: [...]}`, started for the run and stopped with it; never sent"
    ],
    on_progress: [
      type: {:fun, 1},
      doc: "called in the caller with each progress map (blocking forms only)"
    ],
    timeout: [type: :timeout, doc_default: "30 minutes", doc: "how long to wait for the result"],
    server: [type: :atom, doc_default: "`Pipeline.DSPy`", doc: "the instance"]
  ]

  @doc "The specs of `keys`, in that order."
  @spec specs([atom]) :: keyword
  def specs(keys), do: Enum.map(keys, &{&1, Keyword.fetch!(@specs, &1)})

  @doc false
  @spec training_data?(term) :: boolean
  def training_data?(v), do: (is_binary(v) and v != "") or is_list(v)
  @doc false
  @spec fraction?(term) :: boolean
  def fraction?(v), do: is_number(v) and v > 0 and v < 1

  # option => wire key, for the options sent as they are
  @plain [
    lm: "lm",
    reflection_lm: "reflectionLm",
    seed: "seed",
    run_id: "runId",
    concurrency: "concurrency",
    val_fraction: "valFraction",
    steps: "steps",
    name: "name",
    execution_timeout_ms: "executionTimeoutMs"
  ]

  @doc """
  The wire params of a run from validated options. `pipeline` is the caller's pipeline
  argument; errors are `{:error, %Error{}}` for paths that do not exist.
  """
  @spec to_params(term, keyword) :: {:ok, map} | {:error, Error.t()}
  def to_params(pipeline, opts) do
    with {:ok, p} <- pipeline_param(pipeline),
         {:ok, td} <- training_param(opts[:training_data]) do
      optimizer_options =
        opts[:optimizer_options]
        |> wire_map()
        |> then(&if(opts[:dry_run], do: Map.put(&1 || %{}, "dryRun", true), else: &1))

      params =
        Enum.reduce(@plain, %{"pipeline" => p}, fn {opt, wire}, acc ->
          put(acc, wire, opts[opt])
        end)
        |> put("trainingData", td)
        |> put(
          "optimizer",
          named(opts[:optimizer] || (optimizer_options && "BootstrapFewShot"), optimizer_options)
        )
        |> put("metric", named(opts[:metric], wire_map(opts[:metric_options])))
        |> put("budget", budget(opts))
        |> put("outDir", opts[:out] && Path.expand(opts[:out]))
        |> put(
          "signatures",
          opts[:signatures] &&
            Map.new(opts[:signatures], fn {k, v} -> {to_string(k), wire_map(v)} end)
        )
        |> put("writeAnyway", if(opts[:write_anyway], do: true))
        |> put("report", if(opts[:report] == false, do: false))
        |> Map.merge(Map.new(opts[:params] || %{}, fn {k, v} -> {to_string(k), v} end))

      {:ok, params}
    end
  end

  defp budget(opts) do
    caps = wire_map(opts[:budget]) || %{}
    caps = if usd = opts[:budget_usd], do: Map.put(caps, "maxUsd", usd), else: caps
    if caps == %{}, do: nil, else: caps
  end

  defp wire_map(nil), do: nil
  defp wire_map(v), do: Pipeline.DSPy.Options.wire_map(v)

  defp named(nil, _), do: nil
  defp named(%{} = m, _), do: wire_map(m)
  defp named(name, nil), do: %{"name" => to_string(name)}
  defp named(name, options), do: %{"name" => to_string(name), "options" => options}

  defp put(map, _k, nil), do: map
  defp put(map, k, v), do: Map.put(map, k, v)

  defp pipeline_param(path) when is_binary(path) do
    abs = Path.expand(path)

    if File.regular?(abs),
      do: {:ok, %{"path" => abs}},
      else: {:error, Error.new(:invalid_argument, "pipeline file not found: #{abs}")}
  end

  defp pipeline_param(config) when is_map(config), do: {:ok, %{"config" => config}}

  defp pipeline_param(other),
    do:
      {:error,
       Error.new(
         :invalid_argument,
         "pipeline must be a YAML path or a map, got: #{inspect(other)}"
       )}

  defp training_param(nil), do: {:ok, nil}

  defp training_param(dir) when is_binary(dir) do
    abs = Path.expand(dir)

    if File.dir?(abs),
      do: {:ok, %{"dir" => abs}},
      else: {:error, Error.new(:invalid_option, "training_data: no such directory: #{abs}")}
  end

  defp training_param(examples) when is_list(examples),
    do: {:ok, %{"examples" => Enum.map(examples, &wire_example/1)}}

  # An example's own fields are data: only its envelope keys are spelled the wire's way.
  defp wire_example(%{} = ex), do: Map.new(ex, fn {k, v} -> {to_string(k), v} end)
  defp wire_example(other), do: other

  @doc """
  The option a wire field path stands for, as the caller wrote it:
  `["budget", "maxUsd"]` -> `"budget_usd"`, `["trainingData", "examples", 0]` ->
  `"training_data.examples.0"`, `["optimizer", "options", "maxRounds"]` ->
  `"optimizer_options.max_rounds"`, `["options", "maxTokens"]` (lm/generate) -> `"max_tokens"`.
  """
  @spec option_name([String.t() | integer]) :: String.t()
  def option_name(path) do
    path
    |> Enum.map(&to_string/1)
    |> rename()
    |> Enum.join(".")
  end

  defp rename(["budget", "maxUsd" | rest]), do: ["budget_usd" | snake(rest)]
  defp rename(["outDir" | rest]), do: ["out" | snake(rest)]

  defp rename([component, "name" | rest]) when component in ["optimizer", "metric"],
    do: [component | snake(rest)]

  defp rename([component, "options", "dryRun" | rest]) when component == "optimizer",
    do: ["dry_run" | snake(rest)]

  defp rename([component, "options" | rest]) when component in ["optimizer", "metric"],
    do: ["#{component}_options" | snake(rest)]

  # lm/generate: the sampling options are top-level options on this side
  defp rename(["options" | rest]) when rest != [], do: snake(rest)
  defp rename(path), do: snake(path)

  defp snake(path), do: Enum.map(path, &Macro.underscore/1)
end
