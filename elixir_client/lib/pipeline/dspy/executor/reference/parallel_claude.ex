defmodule Pipeline.DSPy.Executor.Reference.ParallelClaude do
  @moduledoc """
  `parallel_claude` (step/parallel_claude.ex at ff625ec): each `parallel_tasks[]` entry runs as
  a `claude` step named by its `id` with its own `prompt` (19-33); the step-level prompt is
  never sent. The result (48-55) is `%{combined_results: text, individual_results: %{id =>
  {:ok, result} | {:error, reason}}}`, atom keys and tuples as pipeline_ex builds it (so a
  `previous_response` of it raises in JSON encoding, there as here). Tasks run one after the
  other here (pipeline_ex runs them concurrently): same results, deterministic call order.
  Predictor path: `STEP.parallel_tasks[ID]`, ID = the task's `id`, else its index.
  """

  alias Pipeline.DSPy.Executor.Reference.{Calls, Engine, LM, LmStep, PromptBuilder}

  @doc "Runs each task as a `claude` step; `{:ok, %{combined_results, individual_results}}`."
  @spec execute(Engine.step(), Engine.ctx()) :: {:ok, map}
  def execute(step, ctx) do
    tasks = step["parallel_tasks"] || []

    results =
      tasks
      |> Enum.with_index()
      |> Enum.map(fn {task, i} ->
        claude_step = %{
          "name" => task["id"],
          "type" => "claude",
          "claude_options" => task["claude_options"],
          "prompt" => task["prompt"]
        }

        prompt = PromptBuilder.build(claude_step["prompt"], ctx.results, ctx.ref.base_dir)
        path = Calls.path(ctx.ref.path ++ [step["name"]], "parallel_tasks[#{task["id"] || i}]")

        result =
          case LM.query(prompt, claude_step, path, ctx) do
            {:ok, r} -> {:ok, LmStep.shape(claude_step, r, ctx)}
            {:error, _} = e -> e
          end

        {task["id"], result}
      end)
      |> Map.new()

    combined =
      tasks
      |> Enum.map(fn task -> "\n===[#{task["id"]}]===\n" <> inspect(results[task["id"]]) end)
      |> Enum.join("\n")

    {:ok, %{combined_results: combined, individual_results: results}}
  end
end
