defmodule Pipeline.DSPy.Template do
  @moduledoc """
  pipeline_ex-style `{{...}}` templates: `{{inputs.x}}`, `{{steps.NAME.field}}`,
  `{{global_vars.x}}`, `{{state.x}}` (dot paths into the bindings). A reference that does not
  resolve is left exactly as written; a map or list value is JSON-encoded.
  """

  @re ~r/\{\{\s*([A-Za-z_][\w\-]*(?:\.[\w\-]+)*)\s*\}\}/

  @doc "Renders `text` against `bindings` (a map with string keys: inputs, steps, global_vars, state)."
  @spec render(String.t(), map) :: String.t()
  def render(text, bindings) when is_binary(text) do
    Regex.replace(@re, text, fn whole, path ->
      case lookup(bindings, String.split(path, ".")) do
        {:ok, v} -> to_text(v)
        :error -> whole
      end
    end)
  end

  @doc "Follows a dot path (list of segments) into maps (string or atom keys) and lists (indices)."
  def lookup(value, []), do: {:ok, value}

  def lookup(map, [seg | rest]) when is_map(map) do
    case Map.fetch(map, seg) do
      {:ok, v} ->
        lookup(v, rest)

      :error ->
        case Enum.find(map, fn {k, _} -> is_atom(k) and Atom.to_string(k) == seg end) do
          {_, v} -> lookup(v, rest)
          nil -> :error
        end
    end
  end

  def lookup(list, [seg | rest]) when is_list(list) do
    case Integer.parse(seg) do
      {i, ""} when i >= 0 and i < length(list) -> lookup(Enum.at(list, i), rest)
      _ -> :error
    end
  end

  def lookup(_, _), do: :error

  @doc "Text form of a value: strings as-is, nil as empty, maps/lists JSON-encoded."
  def to_text(v) when is_binary(v), do: v
  def to_text(nil), do: ""

  def to_text(v) when is_map(v) or is_list(v),
    do: Pipeline.DSPy.JSON.encode!(Pipeline.DSPy.Executor.jsonable(v))

  def to_text(v), do: to_string(v)
end
