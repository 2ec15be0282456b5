defmodule Pipeline.DSPy.Executor.Reference.Wire do
  @moduledoc """
  The `pipeline/execute` result (docs/CONTRACTS.md, "Seams fixed for the pipeline_ex and
  trustworthy-runs work") built from a finished execution, string keys throughout:

    * `steps` - each top-level step that ran or was skipped: LLM steps (`claude*`, `gemini*`,
      `parallel_claude`) give `text` (pipeline_ex's `text`) and the rest of their result map
      as `metadata` (cost, tokens, model, claude_smart_metadata, batch results, ...); other
      steps give their result map as `output`; skipped steps `skipped: true` and `reason`; a
      failed step `success: false` and `reason`. `usage` sums the step's calls;
    * `order` - the top-level steps in the order they ran, skipped ones included (as the
      PipelineEx executor reports them); `output` - the text (or output) of the last one that
      was not skipped;
    * `calls` - every LM prompt sent, with its predictor path; `usage` their sum.
  """

  alias Pipeline.DSPy.Executor
  alias Pipeline.DSPy.Executor.Reference.{Calls, Engine}

  @doc "The wire result of the execution that left `ctx`, its `calls`, and the run's error if it failed."
  @spec build(Engine.ctx(), [Calls.call()], String.t() | nil) :: Executor.wire_result()
  def build(ctx, calls, error \\ nil) do
    ran = Enum.reject(ctx.log, &(&1.status == :skipped))
    steps = Map.new(ctx.log, fn e -> {e.name, step(e, Map.get(ctx.results, e.name), calls)} end)
    last = List.last(ran)

    %{
      "status" => if(error, do: "error", else: "ok"),
      "steps" => steps,
      "order" => Enum.map(ctx.log, & &1.name),
      "output" => last && output_of(steps[last.name]),
      "calls" => calls
    }
    |> put("usage", sum_usage(calls))
    |> put("error", error)
  end

  defp output_of(s), do: s["text"] || s["output"]

  defp step(%{status: :failed} = e, _result, calls),
    do:
      %{"success" => false, "reason" => to_string(e.error)}
      |> put("durationMs", e.duration_ms)
      |> put("usage", step_usage(e.name, calls))

  defp step(%{status: :skipped}, result, _calls) do
    r = Map.get(result, "result", result)
    %{"success" => true, "skipped" => true, "reason" => r["reason"]}
  end

  defp step(e, result, calls) do
    base =
      if lm_type?(e.type) do
        plain = Executor.jsonable(result)
        text = plain["text"] || plain["combined_results"]
        rest = Map.drop(plain, ["text", "success"])

        # "output" => nil: the answer is the text (a normaliser finding no output key would
        # otherwise take the metadata for the output)
        %{"success" => plain["success"] != false, "output" => nil}
        |> put("text", if(is_binary(text), do: text))
        |> put("metadata", if(rest == %{}, do: nil, else: rest))
      else
        %{"success" => true, "output" => Executor.jsonable(result)}
      end

    base |> put("durationMs", e.duration_ms) |> put("usage", step_usage(e.name, calls))
  end

  defp lm_type?(t),
    do:
      is_binary(t) and
        (String.starts_with?(t, "claude") or String.starts_with?(t, "gemini") or
           t == "parallel_claude")

  defp step_usage(name, calls) do
    calls
    |> Enum.filter(&(&1["path"] == name or String.starts_with?(&1["path"], name <> ".")))
    |> sum_usage()
  end

  defp sum_usage(calls) do
    case for(%{"usage" => u} <- calls, do: u) do
      [] -> nil
      us -> Enum.reduce(us, fn u, acc -> Map.merge(acc, u, fn _, a, b -> a + b end) end)
    end
  end

  defp put(m, _k, nil), do: m
  defp put(m, k, v), do: Map.put(m, k, v)
end
