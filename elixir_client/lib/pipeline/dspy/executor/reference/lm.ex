defmodule Pipeline.DSPy.Executor.Reference.LM do
  @moduledoc """
  The Reference executor's one way to an LM: `lm/generate` through the sidecar (or the
  executor's `:generate` option), with the run's `lm`, `runId`, `rolloutId` and
  `temperature`, so every call is cached, counted and charged to the run. Each call is
  recorded (`Calls`) with its predictor path.

  Messages: for claude steps, `claude_options.system_prompt` (else, for the enhanced claude
  steps, their preset's) as a system message (pipeline_ex hands it to the Claude SDK as the
  system prompt; gemini steps have none), then the built prompt as one user message, the single string pipeline_ex sends (`provider.query(prompt,
  options)`, step/claude.ex:27).
  """

  alias Pipeline.DSPy.Executor.Reference.{Calls, Engine}

  @typedoc "An LM's answer: its text, cost in USD, wire usage (if reported) and model."
  @type answer :: %{text: String.t(), cost: number, usage: map | nil, model: String.t() | nil}

  @doc """
  Sends `prompt` for `step` at predictor `path`. Returns `{:ok, %{text, cost, usage, model}}`
  or `{:error, reason}` (a string).
  """
  @spec query(String.t(), Engine.step(), String.t(), Engine.ctx()) ::
          {:ok, answer} | {:error, String.t()}
  def query(prompt, step, path, ctx) do
    ref = ctx.ref

    if Calls.count() >= ref.max_calls do
      raise "the execution sent #{ref.max_calls} LM calls, the Reference executor's limit (option :max_calls)"
    end

    system = system_prompt(step, ctx)

    messages =
      if(is_binary(system) and system != "", do: [%{role: "system", content: system}], else: []) ++
        [%{role: "user", content: prompt}]

    outcome =
      case ref.generate.(messages, ref.generate_opts) do
        {:ok, %{"text" => text} = r} when is_binary(text) ->
          {:ok, %{text: text, cost: r["costUsd"] || 0, usage: usage(r), model: r["model"]}}

        {:ok, other} ->
          {:error, "lm/generate returned #{inspect(other, limit: 10)}"}

        {:error, %{message: m}} ->
          {:error, "lm/generate failed: #{m}"}

        {:error, other} ->
          {:error, "lm/generate failed: #{inspect(other)}"}
      end

    record(path, prompt, outcome, ctx)
    outcome
  end

  defp record(path, prompt, outcome, ctx) do
    base = %{"path" => path, "prompt" => prompt}

    call =
      case outcome do
        {:ok, r} ->
          base
          |> Map.merge(%{"text" => r.text, "success" => true})
          |> put("usage", r.usage)
          |> put(
            "metadata",
            if(r.model, do: %{"model" => r.model, "cost" => r.cost}, else: %{"cost" => r.cost})
          )

        {:error, why} ->
          Map.merge(base, %{"success" => false, "metadata" => %{"error" => why}})
      end

    Calls.record(put(call, "iteration", ctx[:ref_iteration]))
  end

  # gemini steps send no system prompt (step/gemini.ex:58-76 builds model, token_budget, tools)
  defp system_prompt(%{"type" => "gemini" <> _}, _ctx), do: nil

  defp system_prompt(step, ctx) do
    case step["claude_options"] do
      %{"system_prompt" => s} when is_binary(s) -> s
      _ -> preset_system_prompt(step, ctx)
    end
  end

  # The enhanced claude steps merge their preset's options under the step's own
  # (OptionBuilder.merge/2, option_builder.ex:178-196): the preset's system prompt applies when
  # the step sets none. Preset: the step's, else the workflow's defaults.claude_preset, else
  # development (step/claude_smart.ex:72-85, step/claude_batch.ex:160-165).
  @preset_system_prompts %{
    "development" =>
      "You are a helpful development assistant. Focus on writing clean, maintainable code.",
    "production" => "You are a production assistant. Prioritize safety and reliability.",
    "analysis" =>
      "You are a code analysis expert. Provide detailed, structured analysis with specific recommendations.",
    "chat" => "You are a helpful assistant. Provide clear, concise responses.",
    "test" => "You are a test assistant. Provide predictable, structured responses."
  }

  @enhanced ~w(claude_smart claude_extract claude_session claude_batch claude_robust)

  defp preset_system_prompt(%{"type" => t} = step, ctx) when t in @enhanced do
    preset =
      step["preset"] || get_in(ctx, [:config, "workflow", "defaults", "claude_preset"]) ||
        "development"

    @preset_system_prompts[to_string(preset)] || @preset_system_prompts["development"]
  end

  defp preset_system_prompt(_, _), do: nil

  defp usage(%{"usage" => u} = r) when is_map(u),
    do: %{
      "inputTokens" => u["inputTokens"] || 0,
      "outputTokens" => u["outputTokens"] || 0,
      "costUsd" => r["costUsd"] || 0
    }

  defp usage(_), do: nil

  defp put(m, _k, nil), do: m
  defp put(m, k, v), do: Map.put(m, k, v)
end
