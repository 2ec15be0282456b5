defmodule Pipeline.DSPy.Executor.PipelineEx.Result do
  @moduledoc """
  pipeline_ex's results (`{:ok, results}` of `Pipeline.execute/2`: step name => step result)
  to the wire result of `pipeline/execute`, knowing the workflow that produced them. The
  shapes read here are pipeline_ex's at commit ff625ec (file:line in
  `test/support/pipeline_ex_fixtures.ex`, which holds one fixture per shape):

    * LLM steps (`claude`, `claude_smart`, `claude_session`, `claude_extract`, `claude_robust`,
      `gemini`, `gemini_instructor`): the answer is `text` (kept as `text`: a JSON answer is
      parsed by the sidecar from it); `cost`, `tokens`, `session_id`, `model`,
      `claude_smart_metadata`, ... go to `metadata`, cost and tokens also to `usage`. A
      `gemini_instructor` result has no text: the structured answer is the `output`.
    * skipped steps (`%{"success" => true, "skipped" => true, "reason" => ...}`, wrapped in
      `"result"` for a `pipeline` step with `inputs`): `skipped: true` and `reason`, nothing else.
    * `set_variable`: its result map is the `output`; `data_transform`: the value under its
      `output_field` (default: the step name) is the `output`, its `metadata` the metadata.
    * `for_loop` / `while_loop` / `pipeline` / `file_ops`: the result map (minus `success`) is
      the `output`; LM calls made inside are listed in `calls` (below) and their cost summed.
    * `claude_batch` / `parallel_claude`: the consolidated text is the `text`, per-task results
      are metadata and calls.

  `order` lists the workflow's top-level steps that have a result, in workflow order (which is
  the order pipeline_ex ran them; skipped steps included); `output` is the answer of the last
  one that was not skipped. `status` is `"ok"`: pipeline_ex returned `{:ok, _}` (a loop whose
  iteration failed reports `success: false` on its own step, as pipeline_ex does).

  `calls` lists every LM call whose result pipeline_ex keeps, with its predictor path: `STEP`;
  `LOOP.steps.INNER` for a `for_loop` body (per iteration, with `iteration`) and for a nested
  `pipeline` without `outputs`; `STEP.tasks[ID]` (claude_batch) and `STEP.parallel_tasks[ID]`
  (parallel_claude), ID the task's `id`, else its index in the config. Not recoverable, so
  absent: the prompts pipeline_ex built (results do not keep them); the body of a
  `while_loop` (its result is only the iteration count); a nested pipeline with `outputs`
  (only the extracted values come back); a streamed result (only a stream id); the steps of a
  nested `pipeline_file` are read without their types (a result with `text` and `cost`,
  `session_id` or `model` is taken as an LM call, in name order).

  `usage` sums the calls' cost and tokens; `externalUsage` repeats it, marking spend made by
  pipeline_ex's own providers (outside the sidecar): the sidecar charges it to the run.
  """

  alias Pipeline.DSPy.{Executor, JSON}

  @llm ~w(claude gemini claude_smart claude_session claude_extract claude_robust gemini_instructor)

  @doc "The LLM-backed step types whose result is one LM call."
  @spec llm_types() :: [String.t()]
  def llm_types, do: @llm

  @doc "The wire result for pipeline_ex's `results` of running `config` (the workflow map)."
  @spec to_wire(map, Executor.workflow() | nil) :: Executor.wire_result()
  def to_wire(results, config) when is_map(results) do
    results = Map.new(results, fn {k, v} -> {to_string(k), Executor.jsonable(v)} end)
    cfgs = workflow_steps(config)
    by_name = Map.new(cfgs, &{&1["name"], &1})

    order =
      Enum.flat_map(cfgs, fn c ->
        if Map.has_key?(results, c["name"]), do: [c["name"]], else: []
      end) ++
        (results |> Map.keys() |> Enum.reject(&Map.has_key?(by_name, &1)) |> Enum.sort())

    {steps, calls} =
      Enum.reduce(order, {%{}, []}, fn name, {steps, calls} ->
        cfg = by_name[name] || %{"name" => name}
        {wire, step_calls} = step(results[name], cfg, "")
        {Map.put(steps, name, wire), calls ++ step_calls}
      end)

    usage = sum_usage(Enum.flat_map(calls, &List.wrap(&1["usage"])))

    # without the workflow the run order is unknown (a map has none): nothing is guessed
    known_order = if cfgs != [] or map_size(results) <= 1, do: order

    %{
      "status" => "ok",
      "steps" => steps,
      "output" => output_of(known_order || [], steps),
      "calls" => calls
    }
    |> put("order", known_order)
    |> put("usage", usage)
    |> put("externalUsage", usage)
  end

  @doc "The top-level step configs of a workflow map (string keys)."
  @spec workflow_steps(Executor.workflow() | term) :: [%{optional(String.t()) => JSON.value()}]
  def workflow_steps(config) do
    wf =
      case config do
        %{"workflow" => %{} = wf} -> wf
        %{workflow: %{} = wf} -> wf
        %{} = wf -> wf
        _ -> %{}
      end

    wf = Executor.jsonable(wf)

    case wf["steps"] do
      steps when is_list(steps) -> Enum.filter(steps, &(is_map(&1) and is_binary(&1["name"])))
      _ -> []
    end
  end

  @doc "The answer of the last step in `order` that was not skipped (`text`, else `output`)."
  @spec output_of([String.t()], %{optional(String.t()) => map}) :: JSON.value()
  def output_of(order, steps) do
    order
    |> Enum.reverse()
    |> Enum.find_value(fn name ->
      s = steps[name]
      if s["skipped"] != true, do: {:found, s["text"] || s["output"]}
    end)
    |> case do
      {:found, v} -> v
      nil -> nil
    end
  end

  # -- one step ---------------------------------------------------------------------------

  # Returns {wire step, calls}; `prefix` is the predictor path of the enclosing body.
  defp step(r, cfg, prefix) do
    r = unwrap(r, cfg)
    type = cfg["type"]
    path = prefix <> cfg["name"]

    cond do
      is_map(r) and r["skipped"] == true ->
        {%{"success" => true, "skipped" => true} |> put("reason", str(r["reason"])), []}

      not is_map(r) ->
        text = if is_binary(r), do: r

        {%{"success" => true} |> put("text", text) |> put("output", if(text, do: nil, else: r)),
         []}

      r["type"] == "stream" and is_binary(r["stream_id"]) ->
        # executor.ex:330-335: a large result is kept in a stream; the answer is not here
        {%{"success" => r["success"] != false, "metadata" => r}, []}

      type in @llm ->
        llm_step(r, path)

      type == "claude_batch" ->
        batch_step(r, cfg, path)

      type == "parallel_claude" ->
        parallel_step(r, cfg, path)

      type == "set_variable" ->
        {%{"success" => r["success"] != false}
         |> put("output", empty_nil(Map.delete(r, "success"))), []}

      type == "data_transform" ->
        field = cfg["output_field"] || cfg["name"]

        {%{"success" => true}
         |> put("output", r[field])
         |> put("metadata", r["metadata"]), []}

      type == "for_loop" ->
        calls = loop_calls(r, cfg, path)
        {container(r, calls), calls}

      type == "pipeline" ->
        calls = nested_calls(r, cfg, path)
        {container(r, calls), calls}

      # a step whose type we do not know (no workflow, a nested pipeline_file's): its text is
      # the answer; an LM call if it looks like one
      type == nil and is_binary(r["text"]) ->
        {wire, calls} = llm_step(r, path)
        lm? = Enum.any?(["cost", "session_id", "model"], &Map.has_key?(r, &1))
        {wire, if(lm?, do: calls, else: [])}

      true ->
        # while_loop, file_ops, unknown: the result is the answer; inner LM calls are not kept
        {container(r, []), []}
    end
  end

  # executor.ex:281-289 and 443-450: a `pipeline` step with inputs has its result under "result"
  defp unwrap(%{"result" => inner} = r, %{"type" => "pipeline", "inputs" => inputs})
       when map_size(r) == 1 and is_map(inputs) and map_size(inputs) > 0,
       do: inner

  defp unwrap(r, _), do: r

  defp llm_step(r, path) do
    text = if is_binary(r["text"]), do: r["text"]
    success = r["success"] != false
    usage = usage_of(r)

    # gemini_instructor answers with a structured map and no text: that map is the answer
    {output, metadata} =
      if text,
        do: {nil, Map.drop(r, ["text", "success"])},
        else: {empty_nil(Map.drop(r, ["success"])), nil}

    wire =
      %{"success" => success}
      |> put("text", text)
      |> put("output", output)
      |> put("metadata", empty_nil(metadata || %{}))
      |> put("usage", usage)

    {wire, [Map.put(wire, "path", path)]}
  end

  # claude_batch.ex:73-135 (task ids), 237-245 (per task), 326-352 (the step's result)
  defp batch_step(r, cfg, path) do
    tasks = if is_list(cfg["tasks"]), do: cfg["tasks"], else: []
    entries = if is_list(r["batch_results"]), do: r["batch_results"], else: []

    calls =
      Enum.flat_map(entries, fn e ->
        e = if is_map(e), do: e, else: %{}
        res = if is_map(e["result"]), do: e["result"], else: %{}

        call_path =
          case task_index(tasks, e["task_id"]) do
            # no tasks: pipeline_ex sends the step's own prompt as "default_task"
            nil when tasks == [] -> path
            nil -> "#{path}.tasks[#{e["task_id"]}]"
            i -> "#{path}.tasks[#{task_id(Enum.at(tasks, i), i)}]"
          end

        [
          %{"path" => call_path, "success" => e["status"] == "success"}
          |> put("text", if(is_binary(res["text"]), do: res["text"]))
          |> put("metadata", empty_nil(Map.drop(res, ["text", "success"])))
          |> put("usage", if(e["status"] == "success", do: usage_of(res)))
        ]
      end)

    wire =
      %{"success" => r["success"] != false}
      |> put("text", if(is_binary(r["text"]), do: r["text"]))
      |> put("metadata", empty_nil(Map.drop(r, ["text", "success"])))
      |> put("usage", sum_usage(Enum.flat_map(calls, &List.wrap(&1["usage"]))))

    {wire, calls}
  end

  # claude_batch.ex:91: a task's id is its `task_id`, else "task_INDEX"
  defp task_index(tasks, task_id) do
    tasks
    |> Enum.with_index()
    |> Enum.find_value(fn {t, i} ->
      own = if is_map(t), do: t["task_id"]
      if (own || "task_#{i}") == task_id, do: i
    end)
  end

  defp task_id(t, i) when is_map(t), do: if(t["id"] != nil, do: t["id"], else: i)
  defp task_id(_, i), do: i

  # parallel_claude.ex:20-54: %{combined_results: text, individual_results: %{id => {:ok, r}}}
  defp parallel_step(r, cfg, path) do
    tasks = if is_list(cfg["parallel_tasks"]), do: cfg["parallel_tasks"], else: []
    individual = if is_map(r["individual_results"]), do: r["individual_results"], else: %{}

    calls =
      tasks
      |> Enum.with_index()
      |> Enum.flat_map(fn {t, i} ->
        id = if is_map(t), do: t["id"]

        case Map.get(individual, if(id == nil, do: "", else: to_string(id))) do
          ["ok", res] when is_map(res) ->
            {_, [call]} = llm_step(res, "#{path}.parallel_tasks[#{task_id(t, i)}]")
            [call]

          ["error", reason] ->
            [
              %{"path" => "#{path}.parallel_tasks[#{task_id(t, i)}]", "success" => false}
              |> put("metadata", %{"error" => str(reason)})
            ]

          _ ->
            []
        end
      end)

    wire =
      %{"success" => true}
      |> put("text", if(is_binary(r["combined_results"]), do: r["combined_results"]))
      |> put("metadata", empty_nil(Map.drop(r, ["combined_results"])))
      |> put("usage", sum_usage(Enum.flat_map(calls, &List.wrap(&1["usage"]))))

    {wire, calls}
  end

  # loop.ex:73-111, 161: iterations [%{"index", "item", "success", "results" => %{sub => r}}]
  defp loop_calls(r, cfg, path) do
    subs = body_steps(cfg["steps"])
    iterations = if is_list(r["iterations"]), do: r["iterations"], else: []

    for it <- iterations,
        is_map(it),
        is_map(it["results"]),
        sub <- subs,
        Map.has_key?(it["results"], sub["name"]),
        call <- elem(step(it["results"][sub["name"]], sub, path <> ".steps."), 1) do
      Map.put_new(call, "iteration", if(is_integer(it["index"]), do: it["index"], else: 0))
    end
  end

  # nested.ex:67-82 (no `outputs`: step name => result); with `outputs` nothing is recoverable
  defp nested_calls(r, cfg, path) do
    outputs = cfg["outputs"]

    if is_list(outputs) and outputs != [] do
      []
    else
      subs = nested_steps(cfg)
      known = MapSet.new(subs, & &1["name"])

      untyped =
        r
        |> Map.keys()
        |> Enum.reject(&MapSet.member?(known, &1))
        |> Enum.sort()
        |> Enum.map(&%{"name" => &1})

      for sub <- subs ++ untyped,
          Map.has_key?(r, sub["name"]),
          call <- elem(step(r[sub["name"]], sub, path <> ".steps."), 1),
          do: call
    end
  end

  defp nested_steps(cfg) do
    case cfg["pipeline"] do
      %{"workflow" => %{"steps" => s}} -> body_steps(s)
      %{"steps" => s} -> body_steps(s)
      _ -> []
    end
  end

  defp body_steps(s) when is_list(s), do: Enum.filter(s, &(is_map(&1) and is_binary(&1["name"])))
  defp body_steps(_), do: []

  defp container(r, calls) do
    %{"success" => r["success"] != false}
    |> put("output", empty_nil(Map.delete(r, "success")))
    |> put("usage", sum_usage(Enum.flat_map(calls, &List.wrap(&1["usage"]))))
  end

  # -- usage ------------------------------------------------------------------------------

  # cost: claude_provider.ex:282-292, enhanced_claude_provider.ex:671-681;
  # tokens: gemini_provider.ex:176-185 (GenerateContentResponse.token_usage: input/output/total)
  defp usage_of(r) do
    tokens = if is_map(r["tokens"]), do: r["tokens"], else: %{}

    %{
      "inputTokens" => int(tokens["input"] || tokens["input_tokens"] || tokens["prompt"]),
      "outputTokens" => int(tokens["output"] || tokens["output_tokens"] || tokens["candidates"]),
      "costUsd" => num(r["cost"])
    }
  end

  defp sum_usage([]), do: nil

  defp sum_usage(us) do
    Enum.reduce(us, %{"inputTokens" => 0, "outputTokens" => 0, "costUsd" => 0}, fn u, acc ->
      Map.merge(acc, u, fn _k, a, b -> a + b end)
    end)
  end

  defp int(n) when is_integer(n) and n >= 0, do: n
  defp int(n) when is_float(n) and n >= 0, do: trunc(n)
  defp int(_), do: 0

  defp num(n) when is_number(n) and n >= 0, do: n
  defp num(_), do: 0

  defp str(nil), do: nil
  defp str(s) when is_binary(s), do: s
  defp str(s), do: inspect(s)

  defp empty_nil(m) when m == %{}, do: nil
  defp empty_nil(m), do: m

  defp put(m, _k, nil), do: m
  defp put(m, k, v), do: Map.put(m, k, v)
end
