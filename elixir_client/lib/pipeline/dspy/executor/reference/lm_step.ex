defmodule Pipeline.DSPy.Executor.Reference.LmStep do
  @moduledoc """
  The single-prompt LLM steps: `claude`, `claude_smart`, `claude_session`, `claude_extract`,
  `claude_robust`, `gemini`, `gemini_instructor`. Each builds its prompt with pipeline_ex's
  prompt builder from the step as interpolated (step/claude.ex:16, step/gemini.ex:14,
  step/claude_smart.ex:20, ...) and makes one LM call. Result maps, string keys:

    * claude types: `%{"text", "success" => true, "cost"}` (enhanced_claude_provider.ex:519-524,
      without the `session_id` we have none of); `claude_smart` adds `claude_smart_metadata`
      (step/claude_smart.ex:149-157);
    * gemini types: `%{"text", "success" => true, "cost", "tokens", "model"}`
      (gemini_provider.ex:178-185).

  The enhanced claude steps rescue a crash into a step error ("Claude Smart step crashed: ...",
  step/claude_smart.ex:31-35); plain `claude` and `gemini` do not (the run crashes, as
  pipeline_ex's does). claude_extract's text goes through its extraction (`ClaudeExtract`).
  Not reproduced: claude_robust's retries and fallbacks (one attempt) and its
  `robustness_metadata` (timings), claude_session's sessions and `claude_session_metadata`
  (generated session ids): a `previous_response` of those steps shows fewer keys here than in
  pipeline_ex.
  """

  alias Pipeline.DSPy.Executor.Reference.{Calls, ClaudeExtract, Engine, LM, PromptBuilder}

  @rescuing %{
    "claude_smart" => "Claude Smart",
    "claude_extract" => "Claude Extract",
    "claude_session" => "Claude Session",
    "claude_robust" => "Claude Robust"
  }

  @doc "The step types this module runs."
  @spec types() :: [String.t()]
  def types,
    do:
      ~w(claude claude_smart claude_session claude_extract claude_robust gemini gemini_instructor)

  @doc "Builds the step's prompt and makes its one LM call; `{:ok, result}` or `{:error, reason}`."
  @spec execute(Engine.step(), Engine.ctx()) :: {:ok, map} | {:error, String.t()}
  def execute(step, ctx) do
    case @rescuing[step["type"]] do
      nil ->
        run(step, ctx)

      label ->
        try do
          run(step, ctx)
        rescue
          e -> {:error, "#{label} step crashed: #{Exception.message(e)}"}
        end
    end
  end

  defp run(step, ctx) do
    prompt = PromptBuilder.build(step["prompt"], ctx.results, ctx.ref.base_dir)

    case LM.query(prompt, step, Calls.path(ctx.ref.path ++ [step["name"]]), ctx) do
      {:ok, r} ->
        {:ok, extract(step, shape(step, r, ctx))}

      {:error, _} = e ->
        e
    end
  end

  defp extract(%{"type" => "claude_extract"} = step, result),
    do: ClaudeExtract.apply(result, step)

  defp extract(%{"type" => "gemini_instructor"}, result), do: instructor(result["text"])
  defp extract(_, result), do: result

  # gemini_instructor asks InstructorLite for a Pipeline.Schemas.AnalysisResponse
  # (step/gemini_instructor.ex:20-60, schemas/analysis_response.ex): the struct's fields, atom
  # keys, from the LM's JSON; an answer that is not a JSON object fails the call (raises).
  defp instructor(text) do
    case Pipeline.DSPy.JSON.decode(text) do
      {:ok, %{} = m} ->
        %{text: m["text"], analysis: m["analysis"], summary: m["summary"]}

      _ ->
        raise "Gemini call failed: the answer is not a JSON object for Pipeline.Schemas.AnalysisResponse"
    end
  end

  @doc "The result map pipeline_ex's provider gives for this step type."
  @spec shape(Engine.step(), LM.answer(), Engine.ctx()) :: map
  def shape(step, r, ctx) do
    base = %{"text" => r.text, "success" => true, "cost" => r.cost}

    case step["type"] do
      "gemini" <> _ ->
        Map.merge(base, %{"tokens" => tokens(r.usage), "model" => step["model"] || r.model})

      "claude_smart" ->
        preset =
          step["preset"] || get_in(ctx, [:config, "workflow", "defaults", "claude_preset"]) ||
            "development"

        Map.put(base, "claude_smart_metadata", %{
          "preset_applied" => preset,
          "environment_aware" => false,
          "optimization_applied" => true
        })

      _ ->
        base
    end
  end

  defp tokens(%{"inputTokens" => i, "outputTokens" => o}), do: %{"input" => i, "output" => o}
  defp tokens(_), do: %{}
end
