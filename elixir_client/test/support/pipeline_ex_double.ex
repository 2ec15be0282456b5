defmodule PipelineExDouble do
  @moduledoc """
  A test double of pipeline_ex's `Pipeline.execute/2` (commit ff625ec), for the subset the
  optimizer's examples and tests need, returning exactly pipeline_ex's result maps
  (`PipelineExDouble.Fixtures` builds them, with their file:line):

    * steps run in list order, results keyed by step name (executor.ex:226-230, 452-456);
    * directories: `opts[:workspace_dir|:output_dir|:checkpoint_dir]`, else the workflow's
      `workspace_dir` / `defaults.output_dir` / `checkpoint_dir`, else the
      `PIPELINE_*_DIR` environment variables, else `./workspace`, `./outputs`,
      `./checkpoints`; all created (executor.ex:136-162);
    * checkpoints: with `checkpoint_enabled: true`, `CHECKPOINT_DIR/NAME_latest.json` is loaded
      first and the steps before its `step_index` are skipped, their results taken from it
      (executor.ex:203-241); one is written after every step (checkpoint_manager.ex:22-58);
    * `output_to_file` writes the result under the output dir (executor.ex:503-507, 602-614);
    * templates: `{{inputs.x...}}` from `opts[:inputs]` only, type-preserving when `:inputs`
      is given (a lone template keeps the value; inside text `to_string/1`, which raises on a
      map), `{{steps.NAME.field}}`, `{{global_vars.x}}`, `{{state.x}}`, bare variable names
      (unknown ones blank) (variable_engine.ex:112-161, 298-399, 632-674);
    * `condition`: a dot path into the results (truthy), `PATH OP LITERAL` with
      `== != >= <= > <`, and `and`/`or`/`not` maps (engine.ex:39-119); a false one gives the
      skipped result (executor.ex:275-289);
    * prompts: parts joined with "\\n"; `previous_response` without `extract` is the whole
      result map as pretty JSON, with `extract` the field (strict) (prompt_builder.ex:13-115,
      168-240); one LM call per LLM step, with `claude_options.system_prompt` as system text;
    * step types `claude`, `claude_smart`, `claude_session`, `claude_extract`, `claude_robust`,
      `gemini` and `set_variable`; any other fails the run, as an unknown type does.

  The LM is the `:answer` function given to `runner/1`,
  `fn messages, step -> {:ok, text, usage} | {:error, reason}` (usage
  `%{input_tokens, output_tokens, cost}`), e.g. `lm_via_sidecar/2`, which asks the sidecar's
  `lm/generate` (an offline LM follows the demos in the prompt, so optimization helps).
  `runner(answer: f, cost: 0.01)` reports that cost per LM call (default: the usage's cost).
  Every call is also sent to `:notify` (a pid) as `{:pipeline_ex_double_call, step_name, prompt}`.
  """

  alias PipelineExDouble.Fixtures

  @doc "A 2-arity function to give the PipelineEx executor as its `:pipeline` option."
  def runner(opts), do: fn config, exec_opts -> execute(config, exec_opts, opts) end

  @doc "An `:answer` function calling the sidecar's `lm/generate` (no run id: spend is reported by results)."
  def lm_via_sidecar(server, lm) do
    fn messages, _step ->
      case Pipeline.DSPy.generate(messages, server: server, lm: lm, timeout: 60_000) do
        {:ok, %{"text" => text} = r} ->
          u = r["usage"] || %{}

          {:ok, text,
           %{
             input_tokens: u["inputTokens"] || 0,
             output_tokens: u["outputTokens"] || 0,
             cost: r["costUsd"] || 0
           }}

        {:error, e} ->
          {:error, inspect(e)}
      end
    end
  end

  def execute(workflow, opts, double) do
    wf = workflow["workflow"]
    name = wf["name"]
    dirs = dirs(wf, opts)

    ctx0 = %{
      results: %{},
      step_index: 0,
      state: %{},
      inputs: Keyword.get(opts, :inputs),
      global_vars: wf["global_vars"] || %{}
    }

    ctx =
      with true <- wf["checkpoint_enabled"] == true,
           {:ok, body} <- File.read(Path.join(dirs.checkpoint, "#{name}_latest.json")),
           {:ok, cp} <- Pipeline.DSPy.JSON.decode(body) do
        %{
          ctx0
          | results: cp["results"] || %{},
            step_index: cp["step_index"] || 0,
            state: get_in(cp, ["variable_state", "global"]) || %{}
        }
      else
        _ -> ctx0
      end

    try do
      wf["steps"]
      |> Enum.with_index()
      |> Enum.reduce_while({:ok, ctx}, fn {step, i}, {:ok, ctx} ->
        if i < ctx.step_index do
          {:cont, {:ok, ctx}}
        else
          case run_step(interpolate(step, ctx), step, i, ctx, dirs, double) do
            {:ok, ctx} ->
              if wf["checkpoint_enabled"] == true, do: save_checkpoint(dirs.checkpoint, name, ctx)
              {:cont, {:ok, ctx}}

            {:error, reason} ->
              {:halt,
               {:error, "Step '#{step["name"]}' failed: #{reason}\nStep type: #{step["type"]}\n"}}
          end
        end
      end)
      |> case do
        {:ok, ctx} -> {:ok, ctx.results}
        err -> err
      end
    rescue
      e ->
        # executor.ex:95-115
        {:error, "Pipeline execution crashed: #{Exception.message(e)}\nWorkflow: #{name}\n"}
    end
  end

  defp dirs(wf, opts) do
    pick = fn key, cfg, env, default ->
      Path.expand(Keyword.get(opts, key) || cfg || System.get_env(env) || default)
    end

    d = %{
      workspace:
        pick.(:workspace_dir, wf["workspace_dir"], "PIPELINE_WORKSPACE_DIR", "./workspace"),
      output:
        pick.(
          :output_dir,
          get_in(wf, ["defaults", "output_dir"]),
          "PIPELINE_OUTPUT_DIR",
          "./outputs"
        ),
      checkpoint:
        pick.(:checkpoint_dir, wf["checkpoint_dir"], "PIPELINE_CHECKPOINT_DIR", "./checkpoints")
    }

    Enum.each(Map.values(d), &File.mkdir_p!/1)
    d
  end

  defp save_checkpoint(dir, name, ctx) do
    data = %{
      "workflow_name" => name,
      "step_index" => ctx.step_index,
      "results" => Pipeline.DSPy.Executor.jsonable(ctx.results),
      "execution_log" => [],
      "timestamp" => DateTime.to_iso8601(DateTime.utc_now()),
      "variable_state" => %{"global" => ctx.state, "session" => %{}, "loop" => %{}},
      "version" => "1.1"
    }

    json = Pipeline.DSPy.JSON.encode!(data)
    File.write!(Path.join(dir, "#{name}_#{System.unique_integer([:positive])}.json"), json)
    File.write!(Path.join(dir, "#{name}_latest.json"), json)
  end

  defp run_step(step, raw_step, i, ctx, dirs, double) do
    if condition_met?(step["condition"], ctx) do
      with {:ok, result, ctx} <- do_step(step, ctx, double) do
        if step["output_to_file"] do
          path = Path.join(dirs.output, step["output_to_file"])
          File.mkdir_p!(Path.dirname(path))
          File.write!(path, if(is_binary(result), do: result, else: pretty(result, "")))
        end

        {:ok, %{ctx | results: Map.put(ctx.results, step["name"], result), step_index: i + 1}}
      end
    else
      # executor.ex:275-279 (a map condition raises in the interpolation, as there)
      skipped = %{
        "success" => true,
        "skipped" => true,
        "reason" => "Condition not met: #{raw_step["condition"] || "N/A"}"
      }

      {:ok, %{ctx | results: Map.put(ctx.results, step["name"], skipped), step_index: i + 1}}
    end
  end

  defp do_step(%{"type" => "set_variable"} = step, ctx, _double) do
    vars = step["variables"] || %{}
    {:ok, Fixtures.set_variable(vars), %{ctx | state: Map.merge(ctx.state, vars)}}
  end

  defp do_step(%{"type" => type} = step, ctx, double)
       when type in ~w(claude claude_smart claude_session claude_extract claude_robust gemini) do
    prompt = build_prompt(step["prompt"], ctx.results)
    system = get_in(step, ["claude_options", "system_prompt"])

    messages =
      if(is_binary(system), do: [%{role: "system", content: system}], else: []) ++
        [%{role: "user", content: prompt}]

    if pid = double[:notify],
      do: send(pid, {:pipeline_ex_double_call, step["name"], prompt, step})

    case double[:answer].(messages, step) do
      {:ok, text, usage} ->
        cost = Keyword.get(double, :cost, usage[:cost] || 0)
        model = get_in(step, ["claude_options", "model"]) || "claude-sonnet-4-5"

        result =
          case type do
            "claude" ->
              Fixtures.claude_live(text, cost, model)

            "claude_smart" ->
              Fixtures.claude_smart(text, cost, step["preset"] || "development")

            "claude_session" ->
              Fixtures.claude_session(text, cost)

            "claude_extract" ->
              Fixtures.claude_extract(text, cost)

            "claude_robust" ->
              Fixtures.claude_robust(text, cost)

            "gemini" ->
              %{
                Fixtures.gemini(text, usage[:input_tokens] || 0, usage[:output_tokens] || 0)
                | cost: cost
              }
          end

        {:ok, result, ctx}

      {:error, reason} ->
        {:error, reason}
    end
  end

  defp do_step(%{"name" => n, "type" => t}, _ctx, _double),
    do:
      {:error,
       "Invalid workflow: Step '#{n}' has invalid type '#{t}' (not simulated by PipelineExDouble)"}

  # -- prompts (prompt_builder.ex) --------------------------------------------------------

  defp build_prompt(parts, results) when is_list(parts),
    do: Enum.map_join(parts, "\n", &part(&1, results))

  defp build_prompt(nil, _), do: ""

  defp part(%{"type" => "static", "content" => c}, _), do: c || ""
  defp part(%{"type" => "file", "path" => p}, _), do: File.read!(p)

  defp part(%{"type" => "previous_response", "step" => s} = p, results) do
    result = Map.fetch!(results, s)

    case p["extract"] do
      nil ->
        if is_binary(result), do: result, else: pretty(result, "")

      path ->
        case lookup(result, String.split(path, ".")) do
          {:ok, v} ->
            if is_binary(v), do: v, else: inspect(v)

          :error ->
            if p["strict"] == false,
              do: "nil",
              else: raise(ArgumentError, "Field '#{path}' not found in previous response.")
        end
    end
  end

  defp part(_, _), do: ""

  # Jason.encode!(term, pretty: true) for the maps results hold
  defp pretty(m, ind) when is_map(m) and not is_struct(m) do
    if m == %{} do
      "{}"
    else
      inner = ind <> "  "

      body =
        m
        |> Enum.map(fn {k, v} -> {to_string(k), v} end)
        |> Enum.sort()
        |> Enum.map_join(",\n", fn {k, v} ->
          inner <> Pipeline.DSPy.JSON.encode!(k) <> ": " <> pretty(v, inner)
        end)

      "{\n" <> body <> "\n" <> ind <> "}"
    end
  end

  defp pretty([], _), do: "[]"

  defp pretty(l, ind) when is_list(l) do
    inner = ind <> "  "
    "[\n" <> Enum.map_join(l, ",\n", &(inner <> pretty(&1, inner))) <> "\n" <> ind <> "]"
  end

  defp pretty(v, _), do: Pipeline.DSPy.JSON.encode!(Pipeline.DSPy.Executor.jsonable(v))

  # -- templates (variable_engine.ex) -----------------------------------------------------

  defp interpolate(data, ctx) when is_map(data),
    do: Map.new(data, fn {k, v} -> {k, interpolate(v, ctx)} end)

  defp interpolate(data, ctx) when is_list(data), do: Enum.map(data, &interpolate(&1, ctx))

  defp interpolate(text, ctx) when is_binary(text) do
    case {ctx.inputs, Regex.run(~r/^\{\{([^}]+)\}\}$/, String.trim(text))} do
      {inputs, [_, expr]} when inputs != nil ->
        eval(String.trim(expr), ctx)

      _ ->
        Regex.replace(~r/\{\{([^}]+)\}\}/, text, fn _, expr ->
          to_string(eval(String.trim(expr), ctx))
        end)
    end
  end

  defp interpolate(v, _), do: v

  defp eval("inputs." <> path = expr, ctx) do
    case lookup(ctx.inputs || %{}, String.split(path, ".")) do
      {:ok, v} when v != nil -> v
      _ -> "{{#{expr}}}"
    end
  end

  defp eval("global_vars." <> var = expr, ctx), do: Map.get(ctx.global_vars, var, "{{#{expr}}}")

  defp eval("steps." <> path = expr, ctx) do
    case lookup(ctx.results, String.split(path, ".")) do
      {:ok, v} when v != nil -> v
      _ -> "{{#{expr}}}"
    end
  end

  defp eval("state." <> path, ctx) do
    case lookup(ctx.state, String.split(path, ".")) do
      {:ok, v} -> v
      :error -> nil
    end
  end

  defp eval(name, ctx), do: Map.get(ctx.state, name)

  defp lookup(v, []), do: {:ok, v}

  defp lookup(m, [k | rest]) when is_map(m) do
    case Enum.find(m, fn {key, _} -> to_string(key) == k end) do
      {_, v} -> lookup(v, rest)
      nil -> :error
    end
  end

  defp lookup(_, _), do: :error

  # -- conditions (condition/engine.ex) ---------------------------------------------------

  defp condition_met?(nil, _), do: true
  defp condition_met?(%{"and" => cs}, ctx), do: Enum.all?(cs, &condition_met?(&1, ctx))
  defp condition_met?(%{"or" => cs}, ctx), do: Enum.any?(cs, &condition_met?(&1, ctx))
  defp condition_met?(%{"not" => c}, ctx), do: not condition_met?(c, ctx)
  defp condition_met?(cs, ctx) when is_list(cs), do: Enum.all?(cs, &condition_met?(&1, ctx))

  defp condition_met?(expr, ctx) when is_binary(expr) do
    case Regex.run(~r/^\s*(\S+)\s*(==|!=|>=|<=|>|<)\s*(.+?)\s*$/, expr) do
      [_, path, op, lit] -> compare(value(path, ctx), op, literal(lit))
      nil -> value(String.trim(expr), ctx) not in [nil, false, "", "false"]
    end
  end

  defp value(path, ctx) do
    case lookup(ctx.results, String.split(path, ".")) do
      {:ok, v} -> v
      :error -> nil
    end
  end

  defp literal(s) do
    cond do
      s in ["true", "false"] -> s == "true"
      match?({_, ""}, Float.parse(s)) -> elem(Float.parse(s), 0)
      true -> String.trim(s, "\"") |> String.trim("'")
    end
  end

  defp compare(a, "==", b), do: a == b
  defp compare(a, "!=", b), do: a != b

  defp compare(a, op, b) when is_number(a) and is_number(b) do
    case op do
      ">=" -> a >= b
      "<=" -> a <= b
      ">" -> a > b
      "<" -> a < b
    end
  end

  defp compare(_, _, _), do: false
end
