defmodule Pipeline.DSPy.Executor.Reference.ClaudeBatch do
  @moduledoc """
  `claude_batch` (step/claude_batch.ex at ff625ec). Tasks (73-133): with no `tasks`, one task
  `default_task` whose prompt is the step's; else each task's `prompt` (a list, or a string as
  one static part), or its `file` read then "Analyze this file", or the step's prompt after a
  "Task context: ..." part. Each task prompt is built with no previous results (224: a
  `previous_response` part fails that task). A failed task is `status: "error"`, the step still
  succeeds. The result (305-361, 363-412): `success`, `batch_processed`, task counts,
  `batch_results`, and, unless `batch_config.consolidate_results` is false, the consolidated
  `text` and `claude_batch_metadata`; then `performance_statistics`. Left out for determinism:
  the random mock `execution_time_ms` and `batch_processed_at` (the statistics are zeros).
  Predictor path: `STEP.tasks[ID]`, ID = the task's `id`, else its index.
  """

  alias Pipeline.DSPy.Executor.Reference.{Calls, Engine, LM, PromptBuilder}

  @doc "Runs the batch's tasks one after the other; `{:ok, result}` or `{:error, reason}`."
  @spec execute(Engine.step(), Engine.ctx()) :: {:ok, map} | {:error, String.t()}
  def execute(step, ctx) do
    with {:ok, config} <- config(step) do
      results = Enum.map(tasks(step), &run_task(&1, step, ctx))
      {:ok, consolidate(results, config, step)}
    end
  rescue
    e -> {:error, "Claude Batch step crashed: #{Exception.message(e)}"}
  end

  defp config(step) do
    b = step["batch_config"] || %{}
    max_parallel = b["max_parallel"] || 3
    timeout = b["timeout_per_task"] || 60_000

    cond do
      max_parallel <= 0 -> {:error, "max_parallel must be a positive integer"}
      timeout <= 0 -> {:error, "timeout_per_task must be a positive integer"}
      true -> {:ok, %{"consolidate_results" => Map.get(b, "consolidate_results", true)}}
    end
  end

  defp tasks(step) do
    case step["tasks"] || [] do
      [] ->
        [
          {%{
             "prompt" =>
               step["prompt"] || [%{"type" => "static", "content" => "Default batch task"}],
             "task_id" => "default_task",
             "file" => nil
           }, "0"}
        ]

      tasks ->
        tasks
        |> Enum.with_index()
        |> Enum.map(fn {task, i} ->
          task = Map.put_new(task, "task_id", "task_#{i}")
          {Map.put(task, "built_prompt", built_prompt(task, step)), to_string(task["id"] || i)}
        end)
    end
  end

  defp built_prompt(task, step) do
    case task do
      %{"prompt" => p} when is_list(p) ->
        p

      %{"prompt" => p} when is_binary(p) ->
        [%{"type" => "static", "content" => p}]

      %{"file" => f} when is_binary(f) ->
        [
          %{"type" => "file", "path" => f},
          %{"type" => "static", "content" => task["prompt"] || "Analyze this file"}
        ]

      _ ->
        [%{"type" => "static", "content" => "Task context: #{inspect(task)}"}] ++
          (step["prompt"] || [%{"type" => "static", "content" => "Process this task"}])
    end
  end

  defp run_task({task, id}, step, ctx) do
    task_id = task["task_id"]
    parts = task["built_prompt"] || task["prompt"]

    try do
      prompt = PromptBuilder.build(parts, %{}, ctx.ref.base_dir)
      path = Calls.path(ctx.ref.path ++ [step["name"]], "tasks[#{id}]")

      case LM.query(prompt, step, path, ctx) do
        {:ok, r} ->
          %{
            "task_id" => task_id,
            "status" => "success",
            "file" => task["file"],
            "result" => %{"text" => r.text, "success" => true, "cost" => r.cost}
          }

        {:error, why} ->
          %{"task_id" => task_id, "status" => "error", "error" => why, "file" => task["file"]}
      end
    rescue
      e ->
        %{
          "task_id" => task_id,
          "status" => "error",
          "error" => "Task crashed: #{Exception.message(e)}",
          "file" => task["file"]
        }
    end
  end

  defp consolidate(results, config, step) do
    ok = Enum.filter(results, &(&1["status"] == "success"))

    base = %{
      "success" => true,
      "batch_processed" => true,
      "total_tasks" => length(results),
      "successful_tasks" => length(ok),
      "failed_tasks" => length(results) - length(ok),
      "batch_results" => results
    }

    base =
      if config["consolidate_results"] == false,
        do: base,
        else:
          base
          |> Map.put("text", text(results))
          |> Map.put("claude_batch_metadata", metadata(results, step))

    Map.put(base, "performance_statistics", %{
      "total_execution_time_ms" => 0,
      "average_task_time_ms" => 0,
      "min_task_time_ms" => 0,
      "max_task_time_ms" => 0
    })
  end

  defp text(results) do
    ok =
      for t <- results, t["status"] == "success" do
        text =
          case t["result"] do
            %{"text" => s} when is_binary(s) -> s
            _ -> "No text result"
          end

        "## Task: #{t["task_id"] || "unknown"}\n**File**: #{t["file"] || "N/A"}\n**Status**: Success\n\n#{text}\n"
      end

    failed =
      for t <- results, t["status"] != "success" do
        "## Task: #{t["task_id"] || "unknown"}\n**File**: #{t["file"] || "N/A"}\n**Status**: " <>
          "#{String.upcase(t["status"] || "failed")}\n**Error**: #{t["error"] || "Unknown error"}\n"
      end

    all = ok ++ failed

    "# Batch Processing Results\n\n**Total Tasks**: #{length(results)}\n**Successful**: #{length(ok)}\n" <>
      "**Failed**: #{length(failed)}\n\n#{Enum.join(all, "\n\n---\n\n")}\n"
  end

  defp metadata(results, step) do
    count = fn s -> Enum.count(results, &(&1["status"] == s)) end

    %{
      "step_name" => if(is_binary(step["name"]), do: step["name"], else: "unknown_step"),
      "total_tasks" => length(results),
      "task_breakdown" => %{
        "successful" => count.("success"),
        "failed" => count.("error"),
        "timeout" => count.("timeout")
      },
      "files_processed" =>
        results |> Enum.map(& &1["file"]) |> Enum.filter(&is_binary/1) |> Enum.uniq()
    }
  end
end
