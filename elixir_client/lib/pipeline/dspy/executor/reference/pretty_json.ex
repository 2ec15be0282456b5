defmodule Pipeline.DSPy.Executor.Reference.PrettyJSON do
  @moduledoc """
  `Jason.encode!(value, pretty: true)` as pipeline_ex prints a previous step's result into a
  prompt (prompt_builder.ex:239, 254): two-space indent, `"key": value`, keys in map order
  (sorted, as Elixir iterates maps of up to 32 keys), `{}` / `[]` when empty. Atoms other
  than booleans and nil are strings; a tuple raises, as Jason does.
  """

  alias Pipeline.DSPy.JSON

  @doc "`value` as pretty-printed JSON; raises on a tuple or anything JSON cannot encode."
  @spec encode!(term) :: String.t()
  def encode!(value), do: value |> enc("") |> IO.iodata_to_binary()

  defp enc(m, ind) when is_map(m) and not is_struct(m) do
    if map_size(m) == 0 do
      "{}"
    else
      inner = ind <> "  "

      items =
        m
        |> Enum.sort_by(fn {k, _} -> to_string(k) end)
        |> Enum.map(fn {k, v} -> [inner, JSON.encode!(to_string(k)), ": ", enc(v, inner)] end)
        |> Enum.intersperse(",\n")

      ["{\n", items, "\n", ind, "}"]
    end
  end

  defp enc([], _), do: "[]"

  defp enc(l, ind) when is_list(l) do
    inner = ind <> "  "
    ["[\n", l |> Enum.map(&[inner, enc(&1, inner)]) |> Enum.intersperse(",\n"), "\n", ind, "]"]
  end

  defp enc(a, _) when is_atom(a) and a not in [nil, true, false],
    do: JSON.encode!(Atom.to_string(a))

  defp enc(t, _) when is_tuple(t),
    do: raise(Protocol.UndefinedError, protocol: Jason.Encoder, value: t)

  defp enc(v, _), do: JSON.encode!(v)
end
