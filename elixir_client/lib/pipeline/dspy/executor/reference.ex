defmodule Pipeline.DSPy.Executor.Reference do
  @moduledoc """
  Our own interpreter of the pipeline_ex subset the optimizer needs, so candidates can run
  without pipeline_ex (and with one provider config, cache and budget: the sidecar's).

    * `claude*` and `gemini*` steps: one LM call each through the sidecar (`lm/generate`,
      with `runId` from the context and `lm` from `context.lm` when given). Messages: the
      step's `system_prompt` (or `role`, or `claude_options.system_prompt`) as a system
      message when present, then the rendered prompt as one user message.
    * prompt: a plain string, or a list of parts: `static` (`content`), `file` (`path`, read
      relative to the executor's `:base_dir` option or the cwd), `previous_response`
      (`step`, optional `extract` dot path; without `extract` a map result is JSON-encoded).
    * templates in every string: `{{inputs.x}}`, `{{steps.NAME.field}}` (`text` is the LM
      text), `{{global_vars.x}}`, `{{state.x}}`; unresolved ones are left as written.
    * `set_variable`: `variables` (or `variable` + `value`) rendered into `state`.
    * a step with a `condition` naming a state/step path that is falsy is skipped.
    * any other step type: the run stops with a clear error naming the step and type.

  Each step emits `[:pipeline, :step, :stop]`. The result's `output` is the last step's text.
  Options (as `{Reference, opts}`): `:base_dir`, `:generate` (a 2-arity fun replacing
  `Pipeline.DSPy.generate/2`, for tests or custom routing).
  """

  @behaviour Pipeline.DSPy.Executor

  alias Pipeline.DSPy.{Executor, Template, Telemetry}

  @impl true
  def execute(config, inputs, context) do
    config = Executor.stringify_keys(config)

    workflow =
      if is_map(config["workflow"]), do: Executor.stringify_keys(config["workflow"]), else: config

    steps = workflow["steps"]

    if is_list(steps) and steps != [] do
      bindings = %{
        "inputs" => inputs || %{},
        "steps" => %{},
        "global_vars" => workflow["global_vars"] || %{},
        "state" => %{}
      }

      run_steps(steps, bindings, %{}, nil, workflow, context)
    else
      {:error, "workflow has no steps (expected workflow.steps to be a non-empty list)"}
    end
  end

  defp run_steps([], bindings, results, last, _wf, _ctx),
    do: {:ok, %{status: "ok", steps: results, output: last, state: bindings["state"]}}

  defp run_steps([step | rest], bindings, results, last, wf, ctx) do
    step = Executor.stringify_keys(step)
    name = to_string(step["name"] || "step_#{map_size(results) + 1}")
    type = to_string(step["type"] || "")

    if skip?(step, bindings) do
      run_steps(rest, bindings, results, last, wf, ctx)
    else
      start = System.monotonic_time()
      outcome = run_step(type, step, bindings, wf, ctx)
      duration = System.monotonic_time() - start
      dms = System.convert_time_unit(duration, :native, :microsecond) / 1000

      {success, usage, error} =
        case outcome do
          {:ok, r} -> {true, r[:usage], nil}
          {:state, _} -> {true, nil, nil}
          {:error, msg} -> {false, nil, msg}
        end

      Telemetry.emit([:pipeline, :step, :stop], %{duration: duration, duration_ms: dms}, %{
        pipeline_name: wf["name"],
        step_name: name,
        step_type: type,
        success: success,
        usage: usage,
        run_id: ctx[:run_id],
        error: error
      })

      case outcome do
        {:ok, %{text: text} = r} ->
          step_result = %{text: text, success: true, durationMs: dms, usage: r[:usage]}
          bindings = put_in(bindings, ["steps", name], %{"text" => text, "success" => true})
          run_steps(rest, bindings, Map.put(results, name, step_result), text, wf, ctx)

        {:state, vars} ->
          bindings = Map.update!(bindings, "state", &Map.merge(&1, vars))
          step_result = %{output: vars, success: true, durationMs: dms}
          bindings = put_in(bindings, ["steps", name], vars)
          run_steps(rest, bindings, Map.put(results, name, step_result), last, wf, ctx)

        {:error, msg} ->
          results = Map.put(results, name, %{success: false, durationMs: dms})

          {:ok,
           %{
             status: "error",
             steps: results,
             output: last,
             error: "step #{name} (#{type}): #{msg}"
           }}
      end
    end
  end

  defp skip?(%{"condition" => c}, bindings) when is_binary(c) do
    case Template.lookup(bindings, String.split(String.trim(c), ".")) do
      {:ok, v} -> v in [nil, false, "", "false"]
      :error -> false
    end
  end

  defp skip?(_, _), do: false

  defp run_step("set_variable", step, bindings, _wf, _ctx) do
    vars =
      cond do
        is_map(step["variables"]) -> step["variables"]
        step["variable"] -> %{to_string(step["variable"]) => step["value"]}
        true -> %{}
      end

    {:state, Map.new(vars, fn {k, v} -> {to_string(k), render_value(v, bindings)} end)}
  end

  defp run_step(type, step, bindings, _wf, ctx) when is_binary(type) do
    if String.starts_with?(type, "claude") or String.starts_with?(type, "gemini") do
      lm_step(step, bindings, ctx)
    else
      {:error,
       "unsupported step type #{inspect(type)} (the Reference executor runs claude*/gemini* and set_variable steps)"}
    end
  end

  defp lm_step(step, bindings, ctx) do
    with {:ok, prompt} <- render_prompt(step["prompt"], bindings, ctx) do
      system = step["system_prompt"] || get_in_opts(step, "system_prompt") || step["role"]

      messages =
        if(is_binary(system) and system != "",
          do: [%{role: "system", content: Template.render(system, bindings)}],
          else: []
        ) ++ [%{role: "user", content: prompt}]

      gen_opts =
        [server: ctx[:server] || Pipeline.DSPy, timeout: ctx[:timeout_ms] || 60_000]
        |> put_kw(:lm, ctx[:lm])
        |> put_kw(:run_id, ctx[:run_id])
        |> put_kw(:rollout_id, ctx[:rollout_id])
        |> put_kw(:temperature, ctx[:temperature])

      generate = get_opt(ctx, :generate) || (&Pipeline.DSPy.generate/2)

      case generate.(messages, gen_opts) do
        {:ok, %{"text" => text} = r} -> {:ok, %{text: text, usage: usage(r)}}
        {:ok, other} -> {:error, "lm/generate returned #{inspect(other, limit: 10)}"}
        {:error, %{message: m}} -> {:error, "lm/generate failed: #{m}"}
        {:error, other} -> {:error, "lm/generate failed: #{inspect(other)}"}
      end
    end
  end

  defp usage(%{"usage" => u} = r) when is_map(u),
    do: %{
      inputTokens: u["inputTokens"] || 0,
      outputTokens: u["outputTokens"] || 0,
      costUsd: r["costUsd"] || 0
    }

  defp usage(_), do: nil

  defp get_in_opts(step, key) do
    case step["claude_options"] do
      %{} = o -> o[key] || o[String.to_atom(key)]
      _ -> nil
    end
  end

  defp get_opt(ctx, key) do
    case ctx[:executor_opts] do
      opts when is_list(opts) -> opts[key]
      opts when is_map(opts) -> opts[key]
      _ -> nil
    end
  end

  defp put_kw(kw, _k, nil), do: kw
  defp put_kw(kw, k, v), do: Keyword.put(kw, k, v)

  defp render_prompt(prompt, bindings, _ctx) when is_binary(prompt),
    do: {:ok, Template.render(prompt, bindings)}

  defp render_prompt(parts, bindings, ctx) when is_list(parts) and parts != [] do
    Enum.reduce_while(parts, {:ok, []}, fn part, {:ok, acc} ->
      case part(Executor.stringify_keys(part), bindings, ctx) do
        {:ok, text} -> {:cont, {:ok, [acc, text]}}
        err -> {:halt, err}
      end
    end)
    |> case do
      {:ok, io} -> {:ok, io |> IO.iodata_to_binary() |> String.trim_trailing()}
      err -> err
    end
  end

  defp render_prompt(other, _b, _c),
    do: {:error, "prompt must be a string or a non-empty list of parts, got: #{inspect(other)}"}

  defp part(%{"type" => "static", "content" => c}, b, _),
    do: {:ok, Template.render(to_string(c), b) <> "\n"}

  defp part(%{"type" => "file", "path" => path}, b, ctx) do
    full = Path.expand(Template.render(path, b), get_opt(ctx, :base_dir) || File.cwd!())

    case File.read(full) do
      {:ok, content} -> {:ok, content <> "\n"}
      {:error, why} -> {:error, "prompt file #{full}: #{:file.format_error(why)}"}
    end
  end

  defp part(%{"type" => "previous_response", "step" => s} = p, b, _) do
    case Map.fetch(b["steps"], to_string(s)) do
      {:ok, result} ->
        value =
          case p["extract"] do
            nil -> {:ok, Map.get(result, "text", result)}
            path -> extract(result, to_string(path))
          end

        case value do
          {:ok, v} -> {:ok, Template.to_text(v) <> "\n"}
          :error -> {:error, "previous_response: #{inspect(p["extract"])} not found in step #{s}"}
        end

      :error ->
        {:error, "previous_response: step #{inspect(s)} has not run"}
    end
  end

  defp part(%{"type" => t}, _, _), do: {:error, "unsupported prompt part type #{inspect(t)}"}
  defp part(other, _, _), do: {:error, "invalid prompt part #{inspect(other)}"}

  # extract first looks into the step result, then into its text parsed as JSON.
  defp extract(result, path) do
    segs = String.split(path, ".")

    case Template.lookup(result, segs) do
      {:ok, v} ->
        {:ok, v}

      :error ->
        with text when is_binary(text) <- result["text"],
             {:ok, parsed} <- Pipeline.DSPy.JSON.decode(text),
             {:ok, v} <- Template.lookup(parsed, segs) do
          {:ok, v}
        else
          _ -> :error
        end
    end
  end

  defp render_value(v, b) when is_binary(v), do: Template.render(v, b)
  defp render_value(v, _), do: v
end
