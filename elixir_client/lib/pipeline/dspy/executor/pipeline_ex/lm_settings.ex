defmodule Pipeline.DSPy.Executor.PipelineEx.LMSettings do
  @moduledoc """
  The candidate's LM settings written into each LLM step where pipeline_ex reads them
  (docs/pipelines.md, "Running on pipeline_ex", has the per-field table):

    * model, from an `anthropic:MODEL` LM spec: `claude_options.model` of `claude`,
      `claude_smart`, `claude_session`, `claude_extract`, `claude_robust` and `claude_batch`
      steps and of each `parallel_claude` task (claude_provider.ex:50,
      enhanced_claude_provider.ex:65). Other specs (`offline`, `openai:...`, `cassette:...`)
      name LMs pipeline_ex cannot call: nothing is written, the step's own model stays.
    * temperature: `token_budget.temperature` of `gemini` steps (gemini.ex:63-68,
      gemini_provider.ex:101-108). Claude steps go through the Claude Agent SDK, which has no
      sampling options: it cannot be set there; `gemini_instructor` hard-codes its own.
    * rollout id: pipeline_ex has no response cache, so every execution is already a fresh
      sample; nothing to pass.

  Steps inside `for_loop`/`while_loop` bodies and inline nested `pipeline`s get the same.
  """

  alias Pipeline.DSPy.Executor

  @claude ~w(claude claude_smart claude_session claude_extract claude_robust claude_batch)

  @doc "`config` with the settings of `context` (`:lm`, `:temperature`) applied."
  @spec apply(Executor.workflow(), Executor.context()) :: Executor.workflow()
  def apply(config, context) do
    model = anthropic_model(context[:lm])
    temp = if is_number(context[:temperature]), do: context[:temperature]

    if model == nil and temp == nil,
      do: config,
      else: map_steps(config, &step(&1, model, temp))
  end

  defp anthropic_model("anthropic:" <> model) when model != "", do: model
  defp anthropic_model(_), do: nil

  @doc false
  # Applies `fun` to every step of the workflow, loop bodies and inline pipelines included.
  @spec map_steps(Executor.workflow() | term, (map -> map)) :: Executor.workflow() | term
  def map_steps(%{"workflow" => %{} = wf} = config, fun),
    do: Map.put(config, "workflow", map_steps(wf, fun))

  def map_steps(%{"steps" => steps} = wf, fun) when is_list(steps),
    do: Map.put(wf, "steps", Enum.map(steps, &map_step(&1, fun)))

  def map_steps(other, _fun), do: other

  defp map_step(%{} = s, fun) do
    s =
      case s do
        %{"type" => t, "steps" => body} when t in ["for_loop", "while_loop"] and is_list(body) ->
          Map.put(s, "steps", Enum.map(body, &map_step(&1, fun)))

        %{"type" => "pipeline", "pipeline" => %{} = inline} ->
          Map.put(s, "pipeline", map_steps(inline, fun))

        _ ->
          s
      end

    fun.(s)
  end

  defp map_step(other, _fun), do: other

  defp step(%{"type" => t} = s, model, _temp) when t in @claude and model != nil,
    do: Map.put(s, "claude_options", Map.put(opts(s["claude_options"]), "model", model))

  defp step(%{"type" => "parallel_claude", "parallel_tasks" => tasks} = s, model, _temp)
       when is_list(tasks) and model != nil do
    Map.put(
      s,
      "parallel_tasks",
      Enum.map(tasks, fn
        %{} = t ->
          Map.put(t, "claude_options", Map.put(opts(t["claude_options"]), "model", model))

        t ->
          t
      end)
    )
  end

  defp step(%{"type" => "gemini"} = s, _model, temp) when temp != nil,
    do: Map.put(s, "token_budget", Map.put(opts(s["token_budget"]), "temperature", temp))

  defp step(s, _model, _temp), do: s

  defp opts(%{} = m), do: m
  defp opts(_), do: %{}
end
