defmodule Pipeline.DSPy.Executor.Reference.FileOps do
  @moduledoc """
  `file_ops` (step/file_ops.ex and utils/file_utils.ex at ff625ec), confined to the
  execution's own temporary workspace (created for the run, removed after it): `copy`, `move`,
  `delete`, `list` (`pattern` a regex), `validate` (`files[]` with `must_exist`,
  `must_be_file`, `must_be_dir`, `min_size`, `max_size`, `must_be_readable`,
  `must_be_writable`), `stream_copy`, `stream_process` (`identity`, `uppercase`, `lowercase`,
  `trim`, `replace`). A relative path is inside the workspace (file_utils.ex:25-36). A path
  that would leave it (absolute, `test/...` which pipeline_ex keeps relative to its project
  root, or `..`) is refused: before the run when written literally (`outside/2`), else when
  the step runs, before anything is touched. `convert` is not emulated (refused before the
  run); an unknown operation fails as pipeline_ex's does ("Unsupported operation: X").
  Paths in results are written under the workflow's `workspace_dir` (default
  `./workspace`), not the temporary directory, so results stay deterministic.
  """

  alias Pipeline.DSPy.Executor.Reference.Engine

  @operations ~w(copy move delete validate list convert stream_copy stream_process)

  @doc "The literal paths of a file_ops step that would leave the workspace."
  @spec outside(Engine.step()) :: [String.t()]
  def outside(step) do
    for p <- paths(step), is_binary(p), not String.contains?(p, "{{"), escapes?(p), do: p
  end

  defp paths(step),
    do:
      [step["source"], step["destination"], step["path"]] ++
        Enum.map(List.wrap(step["files"]), &(is_map(&1) && &1["path"]))

  defp escapes?(p) do
    Path.type(p) == :absolute or String.starts_with?(p, "test/") or
      (not String.starts_with?(Path.expand(p, "/ws"), "/ws/") and Path.expand(p, "/ws") != "/ws")
  end

  @doc "Runs the operation inside `ctx.ref.workspace`; `{:ok, result}` or `{:error, reason}`."
  @spec execute(Engine.step(), Engine.ctx()) :: {:ok, map} | {:error, String.t()}
  def execute(step, ctx) do
    op = step["operation"]

    cond do
      op not in @operations ->
        {:error, "Unsupported operation: #{op}"}

      (bad = Enum.filter(paths(step), &(is_binary(&1) and escapes?(&1)))) != [] ->
        {:error,
         "file_ops path #{Enum.join(bad, ", ")} would leave the execution's workspace: refused by the Reference executor"}

      true ->
        run(op, step, ctx)
    end
  end

  defp run("copy", s, ctx), do: two(s, ctx, "copy", &copy/2)

  defp run("stream_copy", s, ctx),
    do: two(s, ctx, "stream_copy", &copy/2, %{"method" => "streaming"})

  defp run("move", s, ctx), do: two(s, ctx, "move", &move/2)

  defp run("delete", s, ctx) do
    p = real(s["path"], ctx)

    result =
      cond do
        File.regular?(p) -> File.rm(p) |> fs("Delete failed")
        File.dir?(p) -> File.rm_rf(p) |> then(fn {:ok, _} -> :ok end)
        true -> {:error, "Path does not exist: #{shown(s["path"], ctx)}"}
      end

    with :ok <- result,
         do:
           {:ok,
            %{"operation" => "delete", "path" => shown(s["path"], ctx), "status" => "completed"}}
  end

  defp run("list", s, ctx) do
    p = real(s["path"], ctx)

    cond do
      not File.exists?(p) ->
        {:error, "Path does not exist: #{shown(s["path"], ctx)}"}

      not File.dir?(p) ->
        {:error, "Path is not a directory: #{shown(s["path"], ctx)}"}

      true ->
        names =
          p
          |> File.ls!()
          |> Enum.sort()
          |> Enum.filter(&(s["pattern"] == nil or String.match?(&1, ~r/#{s["pattern"]}/)))

        files = Enum.map(names, &Path.join(shown(s["path"], ctx), &1))

        {:ok,
         %{
           "operation" => "list",
           "path" => shown(s["path"], ctx),
           "pattern" => s["pattern"],
           "files" => files,
           "count" => length(files)
         }}
    end
  end

  defp run("validate", s, ctx) do
    results =
      for spec <- s["files"] || [] do
        criteria = Map.drop(spec, ["path"])
        base = %{"path" => shown(spec["path"], ctx), "criteria" => criteria}

        case validate(real(spec["path"], ctx), shown(spec["path"], ctx), criteria) do
          :ok -> Map.put(base, "status", "valid")
          {:error, why} -> Map.merge(base, %{"status" => "invalid", "error" => why})
        end
      end

    case Enum.filter(results, &(&1["status"] == "invalid")) do
      [] -> {:ok, %{"operation" => "validate", "results" => results, "status" => "all_valid"}}
      failed -> {:error, "Validation failed for #{length(failed)} file(s): #{inspect(failed)}"}
    end
  end

  defp run("stream_process", s, ctx) do
    src = real(s["source"], ctx)
    processor = s["processor"] || "identity"
    f = processor(processor, s)

    if File.exists?(src) do
      content = src |> File.stream!() |> Enum.map(f) |> IO.iodata_to_binary()
      File.write!(src, content)

      {:ok,
       %{
         "operation" => "stream_process",
         "source" => shown(s["source"], ctx),
         "processed_path" => shown(s["source"], ctx),
         "processor" => processor,
         "status" => "completed",
         "method" => "streaming"
       }}
    else
      {:error,
       "Stream processing failed: could not stream #{shown(s["source"], ctx)}: no such file or directory"}
    end
  end

  defp run("convert", _s, _ctx),
    do: {:error, "file_ops convert is not emulated by the Reference executor"}

  defp two(s, ctx, op, f, extra \\ %{}) do
    {src, dst} = {real(s["source"], ctx), real(s["destination"], ctx)}

    with :ok <- f.(src, dst) do
      {:ok,
       Map.merge(
         %{
           "operation" => op,
           "source" => shown(s["source"], ctx),
           "destination" => shown(s["destination"], ctx),
           "status" => "completed"
         },
         extra
       )}
    else
      {:error, "Source" <> _ = why} -> {:error, String.replace(why, src, shown(s["source"], ctx))}
      e -> e
    end
  end

  defp copy(src, dst) do
    with :ok <- exists(src), :ok <- dest_dir(dst) do
      case File.copy(src, dst) do
        {:ok, _} -> :ok
        {:error, r} -> {:error, "Copy failed: #{:file.format_error(r)}"}
      end
    end
  end

  defp move(src, dst),
    do:
      with(
        :ok <- exists(src),
        :ok <- dest_dir(dst),
        do: File.rename(src, dst) |> fs("Move failed")
      )

  defp exists(p),
    do: if(File.exists?(p), do: :ok, else: {:error, "Source file does not exist: #{p}"})

  defp dest_dir(p) do
    case File.mkdir_p(Path.dirname(p)) do
      :ok -> :ok
      {:error, r} -> {:error, "Cannot create destination directory: #{:file.format_error(r)}"}
    end
  end

  defp fs(:ok, _), do: :ok
  defp fs({:error, r}, label), do: {:error, "#{label}: #{:file.format_error(r)}"}

  # file_utils.ex:194-280
  defp validate(p, shown, c) do
    exists = File.exists?(p)
    must_exist = Map.get(c, "must_exist", true)

    cond do
      must_exist and not exists ->
        {:error, "File must exist but does not: #{shown}"}

      not must_exist and exists ->
        {:error, "File must not exist but does: #{shown}"}

      Map.get(c, "must_be_file", false) and not File.regular?(p) ->
        {:error, "Path must be a file: #{shown}"}

      Map.get(c, "must_be_dir", false) and not File.dir?(p) ->
        {:error, "Path must be a directory: #{shown}"}

      File.regular?(p) and Map.has_key?(c, "min_size") and File.stat!(p).size < c["min_size"] ->
        {:error, "File too small: #{File.stat!(p).size} < #{c["min_size"]} bytes"}

      File.regular?(p) and Map.has_key?(c, "max_size") and File.stat!(p).size > c["max_size"] ->
        {:error, "File too large: #{File.stat!(p).size} > #{c["max_size"]} bytes"}

      Map.get(c, "must_be_readable", false) and not match?({:ok, _}, File.read(p)) ->
        {:error, "File must be readable: #{shown}"}

      Map.get(c, "must_be_writable", false) and
          not (exists and File.stat!(p).access in [:write, :read_write]) ->
        {:error, "File must be writable: #{shown}"}

      true ->
        :ok
    end
  end

  defp processor("uppercase", _), do: &String.upcase/1
  defp processor("lowercase", _), do: &String.downcase/1
  defp processor("trim", _), do: &(String.trim(&1) <> "\n")

  defp processor("replace", s),
    do: &String.replace(&1, s["pattern"] || "", s["replacement"] || "")

  defp processor(_, _), do: & &1

  defp real(nil, _), do: raise(ArgumentError, "file_ops: a path is missing")
  defp real(p, ctx), do: Path.expand(to_string(p), ctx.ref.workspace)

  defp shown(nil, _), do: nil

  defp shown(p, ctx),
    do:
      Path.join(
        get_in(ctx, [:config, "workflow", "workspace_dir"]) || "./workspace",
        to_string(p)
      )
end
