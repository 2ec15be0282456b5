defmodule Pipeline.DSPy.Executor.Reference.PromptBuilder do
  @moduledoc """
  The prompt text pipeline_ex sends for a list of prompt parts: `Pipeline.PromptBuilder.build/2`
  (lib/pipeline/prompt_builder.ex at ff625ec), parts joined with `"\\n"` (13-19):

    * `static` - its `content` (`nil` is `""`; a non-string content, left by type-preserving
      interpolation, goes through `Enum.join/2`: a map raises, as it does in pipeline_ex);
    * `file` - the file's content (54-69, 117-163); a relative path is read from the
      executor's `:base_dir` (pipeline_ex: its working directory); missing: raises
      "File not found: PATH. ...";
    * `previous_response` - without `extract` the whole result map as pretty JSON (a string
      result as is), 85 and 230-249; with `extract` a dot path into the result map's keys only
      (string, then atom), 168-228: a map or list value as pretty JSON, `nil` as `"nil"`; not
      found raises `ArgumentError` unless `strict: false` (then `"nil"`). An unknown step
      raises `KeyError` (72-78);
    * anything else (`session_context`, `claude_continue`, ...) - dropped: `""` (115).

  A plain string prompt has no clause in pipeline_ex (`build/2` takes a list or nil): it
  raises `FunctionClauseError`, and so does this.
  """

  alias Pipeline.DSPy.Executor.Reference.PrettyJSON

  @max_file_bytes 10 * 1024 * 1024

  @doc "The prompt text; raises where pipeline_ex raises. `results`: step name => result."
  @spec build([term] | nil, %{optional(String.t()) => term}, Path.t() | nil) :: String.t()
  def build(parts, results, base_dir) when is_list(parts),
    do: parts |> Enum.map(&part(&1, results, base_dir)) |> Enum.join("\n")

  def build(nil, _results, _base_dir), do: ""

  def build(_other, _results, _base_dir),
    do: raise(FunctionClauseError, module: Pipeline.PromptBuilder, function: :build, arity: 2)

  defp part(%{"type" => "static", "content" => c}, _, _), do: c || ""
  defp part(%{"type" => "file", "path" => path}, _, base), do: read(path, base)

  defp part(%{"type" => "previous_response", "step" => step} = p, results, _) do
    case Map.get(results, step) do
      nil ->
        raise KeyError, key: step, term: results

      result ->
        if p["extract"],
          do: extract(result, p["extract"], Map.get(p, "strict", true)),
          else: format_result(result)
    end
  end

  defp part(_, _, _), do: ""

  defp read(path, base) do
    # File.stat("") is :enoent in pipeline_ex's working directory; expanded, it would be base
    full = if path in ["", nil], do: "", else: Path.expand(to_string(path), base || File.cwd!())

    case File.stat(full) do
      {:ok, %File.Stat{size: size}} when size > @max_file_bytes ->
        raise "File #{path} is #{size} bytes; the Reference executor reads at most #{@max_file_bytes}"

      {:ok, _} ->
        case File.read(full) do
          {:ok, content} -> content
          {:error, why} -> raise "Failed to read file #{path}: #{:file.format_error(why)}"
        end

      {:error, :enoent} ->
        raise "File not found: #{path}. Please check the file path and ensure the file exists."

      {:error, :eacces} ->
        raise "Permission denied accessing file: #{path}. Please check file permissions."

      {:error, why} ->
        raise "Failed to access file #{path}: #{:file.format_error(why)}"
    end
  end

  # extract_field/3 (168-198)
  defp extract(result, path, strict) do
    working =
      case result do
        %{"type" => "async_stream", "resolved_result" => r} -> r
        _ -> result
      end

    case field(working, String.split(path, ".")) do
      {:found, v} ->
        format_value(v)

      :not_found when strict ->
        fields =
          if is_map(working),
            do: working |> Map.keys() |> Enum.join(", "),
            else: "none (response is not a map/object)"

        raise ArgumentError,
              "Field '#{path}' not found in previous response. Available fields: #{fields}. " <>
                "Response structure: #{inspect(working, limit: 200)}"

      :not_found ->
        format_value(nil)
    end
  end

  # get_nested_field_with_presence/2 (200-228)
  defp field(v, []), do: {:found, v}

  defp field(m, [k | rest]) when is_map(m) do
    cond do
      Map.has_key?(m, k) -> field(Map.get(m, k), rest)
      atom_key?(m, k) -> field(Map.get(m, String.to_existing_atom(k)), rest)
      true -> :not_found
    end
  end

  defp field(_, _), do: :not_found

  defp atom_key?(m, k) do
    Map.has_key?(m, String.to_existing_atom(k))
  rescue
    ArgumentError -> false
  end

  defp format_result(%{"type" => "async_stream", "resolved_result" => r}), do: format_result(r)
  defp format_result(r) when is_map(r), do: PrettyJSON.encode!(r)
  defp format_result(r) when is_binary(r), do: r
  defp format_result(r), do: inspect(r)

  defp format_value(v) when is_binary(v), do: v
  defp format_value(v) when is_map(v) or is_list(v), do: PrettyJSON.encode!(v)
  defp format_value(nil), do: "nil"
  defp format_value(v), do: to_string(v)
end
