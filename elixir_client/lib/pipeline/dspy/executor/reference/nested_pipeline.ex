defmodule Pipeline.DSPy.Executor.Reference.NestedPipeline do
  @moduledoc """
  The `pipeline` step (step/nested_pipeline.ex, context/nested.ex at ff625ec): runs a workflow
  from `pipeline_file` (loaded as pipeline_ex's loader would, through `pipeline/load`; a path
  is relative to the executor's `:base_dir`) or an inline `pipeline` map (wrapped in a
  `workflow` root when it has none, 186-201), as a fresh execution given `inputs` (so its
  templates keep types, nested_pipeline.ex:310-337). `inputs` values are resolved against the
  parent (context/nested.ex:150-186; here with the same template engine as every step);
  `config.inherit_context: true` with no `inputs` passes the parent's inputs and global_vars.
  The result is `outputs` extracted from the child's results (a step name, or `{path, as}`), or
  every child result by step name with `"result"` wrappers removed (context/nested.ex:54-84).
  Errors: "Nested pipeline 'NAME' failed: ..."; deeper than 10 levels:
  "Maximum nesting depth (10) exceeded" (safety/recursion_guard.ex:12, 56-62).
  Body predictor paths: `STEP.steps.INNER`.
  """

  alias Pipeline.DSPy.Executor.Reference.Engine
  alias Pipeline.DSPy.Template

  @max_depth 10

  @doc "Runs the nested workflow; `{:ok, outputs}` or `{:error, reason}`."
  @spec execute(Engine.step(), Engine.ctx()) :: {:ok, map} | {:error, String.t()}
  def execute(step, ctx) do
    with {:ok, pipeline} <- load(step, ctx),
         :ok <- depth_ok(ctx) do
      config = step["config"] || %{}
      inherit = Map.get(config, "inherit_context", false)
      explicit = step["inputs"] || %{}

      inputs =
        if inherit and map_size(explicit) == 0,
          do: Map.get(ctx, :inputs, %{}),
          else: Map.new(explicit, fn {k, v} -> {k, resolve_input(v, ctx)} end)

      gv = if inherit, do: Map.get(ctx, :global_vars) || %{}, else: %{}

      pipeline =
        if map_size(gv) > 0, do: put_in(pipeline, ["workflow", "global_vars"], gv), else: pipeline

      name = get_in(pipeline, ["workflow", "name"]) || "unnamed_nested_pipeline"
      ref = %{ctx.ref | path: ctx.ref.path ++ [step["name"]], depth: ctx.ref.depth + 1}

      case Engine.run_workflow(pipeline, inputs, ref, ctx[:ref_iteration]) do
        {:ok, child} -> outputs(child.results, step["outputs"])
        {:error, reason, _ctx} -> {:error, "Nested pipeline '#{name}' failed: #{reason}"}
      end
    end
  end

  defp depth_ok(ctx) do
    if ctx.ref.depth + 1 > @max_depth,
      do:
        {:error,
         "Maximum nesting depth (#{@max_depth}) exceeded: current depth is #{ctx.ref.depth + 1}"},
      else: :ok
  end

  defp resolve_input(v, ctx) when is_binary(v), do: Template.interpolate_preserving(v, ctx)
  defp resolve_input(v, _), do: v

  @doc "The workflow a pipeline step runs: `{:ok, %{\"workflow\" => ...}}` or `{:error, reason}`."
  @spec load(Engine.step(), Engine.ctx()) :: {:ok, map} | {:error, String.t()}
  def load(step, ctx) do
    cond do
      step["pipeline_file"] ->
        path = Path.expand(to_string(step["pipeline_file"]), ctx.ref.base_dir || File.cwd!())

        case Map.fetch(ctx.ref.files, path) do
          {:ok, loaded} -> loaded
          :error -> load_file(path, step["pipeline_file"], ctx.ref)
        end

      step["pipeline"] ->
        wrapped =
          if is_map(step["pipeline"]) and Map.has_key?(step["pipeline"], "workflow"),
            do: step["pipeline"],
            else: %{"workflow" => step["pipeline"]}

        if is_map(wrapped["workflow"]) and is_list(wrapped["workflow"]["steps"]),
          do: {:ok, wrapped},
          else: {:error, "Invalid inline pipeline format. Must include 'steps' array."}

      step["pipeline_ref"] ->
        {:error, "Pipeline registry not yet implemented"}

      true ->
        {:error, "No pipeline source specified. Use 'pipeline_file' or 'pipeline' key."}
    end
  end

  @doc false
  @spec load_file(Path.t(), String.t(), Engine.ref()) :: {:ok, map} | {:error, String.t()}
  def load_file(path, as_written, ref) do
    case ref.load.(path) do
      {:ok, config} -> {:ok, config}
      {:error, %{message: m}} -> {:error, "Failed to load pipeline file '#{as_written}': #{m}"}
      {:error, m} -> {:error, "Failed to load pipeline file '#{as_written}': #{inspect(m)}"}
    end
  end

  defp outputs(results, config) when is_list(config) and config != [] do
    Enum.reduce_while(config, {:ok, %{}}, fn
      name, {:ok, acc} when is_binary(name) ->
        case Map.get(results, name) do
          nil -> {:halt, {:error, "Output '#{name}' not found in results"}}
          v -> {:cont, {:ok, Map.put(acc, name, v)}}
        end

      %{} = o, {:ok, acc} ->
        case path_value(results, String.split(to_string(o["path"]), ".")) do
          {:ok, v} -> {:cont, {:ok, Map.put(acc, o["as"] || o["path"], v)}}
          :error -> {:halt, {:error, "Path '#{o["path"]}' not found in results"}}
        end
    end)
  end

  defp outputs(results, _),
    do: {:ok, Map.new(results, fn {k, v} -> {k, (is_map(v) && Map.get(v, "result")) || v} end)}

  defp path_value(v, []), do: {:ok, v}

  defp path_value(m, [k | rest]) when is_map(m) do
    case Map.get(m, k) do
      nil -> :error
      v -> path_value(v, rest)
    end
  end

  defp path_value(_, _), do: :error
end
