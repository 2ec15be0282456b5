defmodule Pipeline.DSPy.Executor.Reference.Preflight do
  @moduledoc """
  What the Reference executor cannot run, found before any work: the first such step, with
  its path as written (`workflow.steps[2].steps[0]`), its type and why. Walks loop bodies,
  inline pipelines and `pipeline_file`s (loaded here, once, through the executor's loader; a
  file that fails to load is not a refusal: pipeline_ex fails that step at run time, and so
  does this executor).

  Refused, where the engine (not a loop body, which fails those types at run time and
  ignores its steps' conditions, as pipeline_ex's does) would run them: `file_ops` `convert`
  and `file_ops` paths written to leave the execution's workspace (`FileOps`),
  `gemini_instructor` with `functions`, and conditions
  (step `condition`, while-loop `condition`, `break_condition`, `continue_condition`) calling
  condition functions `Conditions` does not evaluate. What pipeline_ex itself would fail on (an
  unknown type in a loop body, a plain-string prompt, a missing file) is not refused: the run
  fails there as pipeline_ex's does.
  """

  alias Pipeline.DSPy.Executor.Reference.{Conditions, Engine, FileOps, NestedPipeline}

  @typedoc """
  The `pipeline_file`s loaded on the way (absolute path => what loading gave), and
  `:uses_file_ops` when a file_ops step is present.
  """
  @type files :: %{
          optional(Path.t()) => {:ok, map} | {:error, String.t()},
          optional(:uses_file_ops) => true
        }

  @typedoc "The first step refused: its path as written, its type, and why."
  @type refusal :: %{path: String.t(), type: String.t(), reason: String.t()}

  @doc """
  `{:ok, files}` (loaded pipeline files by absolute path; `:uses_file_ops` set when a file_ops
  step is present) or `{:refused, %{path, type, reason}}`.
  """
  @spec check(map, Engine.ref()) :: {:ok, files} | {:refused, refusal}
  def check(config, ref) do
    case walk(config["workflow"]["steps"], "workflow.steps", ref, %{}, :engine) do
      {:ok, files} -> {:ok, files}
      {:refused, _} = r -> r
    end
  end

  # `by`: who dispatches these steps. The engine checks conditions and runs every type; a loop
  # body's dispatcher (loop.ex:554-602) ignores a step's condition and fails any type but the
  # LLM ones, set_variable and loops at run time, as pipeline_ex does: nothing to refuse there.
  defp walk(steps, at, ref, files, by) when is_list(steps) do
    steps
    |> Enum.with_index()
    |> Enum.reduce_while({:ok, files}, fn {step, i}, {:ok, acc} ->
      case step(step, "#{at}[#{i}]", ref, acc, by) do
        {:ok, acc} -> {:cont, {:ok, acc}}
        refused -> {:halt, refused}
      end
    end)
  end

  defp walk(_, _, _, files, _), do: {:ok, files}

  defp step(%{} = s, at, ref, files, :engine) do
    type = to_string(s["type"])
    files = if type == "file_ops", do: Map.put(files, :uses_file_ops, true), else: files

    with :ok <- type_ok(s),
         :ok <- conditions_ok(s, ["condition", "break_condition", "continue_condition"]) do
      body(s, type, at, ref, files)
    else
      {:no, why} -> {:refused, %{path: at, type: type, reason: why}}
    end
  end

  defp step(%{"type" => type} = s, at, ref, files, :loop_body)
       when type in ["for_loop", "while_loop"] do
    keys =
      if type == "while_loop",
        do: ["condition", "break_condition", "continue_condition"],
        else: ["break_condition", "continue_condition"]

    case conditions_ok(s, keys) do
      :ok -> walk(s["steps"], at <> ".steps", ref, files, :loop_body)
      {:no, why} -> {:refused, %{path: at, type: type, reason: why}}
    end
  end

  defp step(_, _, _, files, _), do: {:ok, files}

  defp type_ok(%{"type" => "file_ops", "operation" => "convert"}),
    do:
      {:no,
       "file_ops convert is not emulated by the Reference executor (run this workflow on pipeline_ex)"}

  defp type_ok(%{"type" => "file_ops"} = s) do
    case FileOps.outside(s) do
      [] ->
        :ok

      paths ->
        {:no,
         "file_ops would touch #{Enum.join(paths, ", ")}, outside the execution's temporary workspace"}
    end
  end

  defp type_ok(%{"type" => "gemini_instructor", "functions" => fs}) when is_list(fs),
    do:
      {:no,
       "gemini_instructor function calling (InstructorLite tools) is not emulated by the Reference executor"}

  defp type_ok(_), do: :ok

  defp conditions_ok(s, keys) do
    fs = keys |> Enum.flat_map(&Conditions.unsupported_functions(s[&1])) |> Enum.uniq()

    if fs == [],
      do: :ok,
      else:
        {:no,
         "its condition calls #{Enum.map_join(fs, ", ", &"#{&1}()")}, which the Reference executor does not evaluate"}
  end

  defp body(s, type, at, ref, files) when type in ["for_loop", "while_loop"],
    do: walk(s["steps"], at <> ".steps", ref, files, :loop_body)

  defp body(%{"pipeline_file" => f}, "pipeline", at, ref, files) when is_binary(f) do
    if String.contains?(f, "{{") do
      {:ok, files}
    else
      path = Path.expand(f, ref.base_dir || File.cwd!())

      case Map.fetch(files, path) do
        {:ok, _} ->
          {:ok, files}

        :error ->
          loaded = NestedPipeline.load_file(path, f, ref)
          files = Map.put(files, path, loaded)

          case loaded do
            {:ok, %{"workflow" => %{"steps" => steps}}} ->
              walk(steps, "#{at}.pipeline_file(#{f}).workflow.steps", ref, files, :engine)

            _ ->
              {:ok, files}
          end
      end
    end
  end

  defp body(%{"pipeline" => %{} = p}, "pipeline", at, ref, files) do
    {inner, prefix} =
      if is_map(p["workflow"]),
        do: {p["workflow"], ".pipeline.workflow.steps"},
        else: {p, ".pipeline.steps"}

    walk(inner["steps"], at <> prefix, ref, files, :engine)
  end

  defp body(_, _, _, _, files), do: {:ok, files}
end
