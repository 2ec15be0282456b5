defmodule Pipeline.DSPy.JSON.Encoder do
  @moduledoc """
  Our own JSON encoder (used when neither Jason nor Elixir's `JSON` is available).

  Maps (atom, string or integer keys), lists, binaries (must be valid UTF-8; non-ASCII is
  written as-is, control characters, `"` and `\\` are escaped), integers of any size,
  floats (shortest round-tripping form), `nil`/`true`/`false`, other atoms as strings,
  and `Date`/`Time`/`NaiveDateTime`/`DateTime` as ISO 8601 strings. Anything else
  (tuples, pids, other structs) is an `EncodeError`.
  """

  alias Pipeline.DSPy.JSON.EncodeError

  # iodata may end in a binary tail ([acc | "rest"]): built that way on purpose, no copy
  @dialyzer :no_improper_lists

  @spec encode(term) :: {:ok, iodata} | {:error, EncodeError.t()}
  def encode(term) do
    {:ok, value(term)}
  catch
    {:json_encode_error, msg, v} -> {:error, %EncodeError{message: msg, value: v}}
  end

  defp value(nil), do: "null"
  defp value(true), do: "true"
  defp value(false), do: "false"
  defp value(v) when is_binary(v), do: string(v)
  defp value(v) when is_integer(v), do: Integer.to_string(v)
  defp value(v) when is_float(v), do: :erlang.float_to_binary(v, [:short])
  defp value(v) when is_atom(v), do: string(Atom.to_string(v))
  defp value(v) when is_list(v), do: list(v)

  defp value(%mod{} = v) when mod in [Date, Time, NaiveDateTime, DateTime],
    do: string(mod.to_iso8601(v))

  defp value(%mod{} = v),
    do: throw({:json_encode_error, "cannot encode struct #{inspect(mod)}", v})

  defp value(v) when is_map(v), do: map(v)
  defp value(v), do: throw({:json_encode_error, "cannot encode #{inspect(v)}", v})

  defp list([]), do: "[]"
  defp list([h | t]), do: [?[, value(h) | list_rest(t)]

  defp list_rest([]), do: [?]]
  defp list_rest([h | t]), do: [?,, value(h) | list_rest(t)]
  defp list_rest(improper), do: throw({:json_encode_error, "improper list", improper})

  defp map(m) when map_size(m) == 0, do: "{}"

  defp map(m) do
    [{k, v} | rest] = :maps.to_list(m)
    [?{, key(k), ?:, value(v) | map_rest(rest)]
  end

  defp map_rest([]), do: [?}]
  defp map_rest([{k, v} | rest]), do: [?,, key(k), ?:, value(v) | map_rest(rest)]

  defp key(k) when is_binary(k), do: string(k)
  defp key(k) when is_atom(k), do: string(Atom.to_string(k))
  defp key(k) when is_integer(k), do: [?", Integer.to_string(k), ?"]
  defp key(k), do: throw({:json_encode_error, "cannot encode map key #{inspect(k)}", k})

  @doc false
  # Throws {:json_encode_error, _, _} on invalid UTF-8 (encode/1 and the telemetry forwarder catch it).
  @spec string(String.t()) :: iodata
  def string(s), do: [?", escape(s, s, 0, 0, []), ?"]

  # Walks the binary once, copying unescaped runs as sub-binaries (no per-byte allocation).
  # The common case first: printable ASCII that needs no escape.
  defp escape(<<b, rest::binary>>, orig, skip, len, acc)
       when b >= 0x20 and b < 0x80 and b != ?" and b != ?\\,
       do: escape(rest, orig, skip, len + 1, acc)

  defp escape(<<b, rest::binary>>, orig, skip, len, acc) when b < 0x20 or b == ?" or b == ?\\ do
    acc = [acc, binary_part(orig, skip, len) | esc(b)]
    escape(rest, orig, skip + len + 1, 0, acc)
  end

  defp escape(<<c::utf8, rest::binary>>, orig, skip, len, acc) do
    n = if c < 0x800, do: 2, else: if(c < 0x10000, do: 3, else: 4)
    escape(rest, orig, skip, len + n, acc)
  end

  defp escape(<<>>, orig, 0, _len, []), do: orig
  defp escape(<<>>, orig, skip, len, acc), do: [acc | binary_part(orig, skip, len)]

  defp escape(_invalid, orig, _skip, _len, _acc),
    do: throw({:json_encode_error, "invalid UTF-8 in string", orig})

  defp esc(?"), do: "\\\""
  defp esc(?\\), do: "\\\\"
  defp esc(?\n), do: "\\n"
  defp esc(?\r), do: "\\r"
  defp esc(?\t), do: "\\t"
  defp esc(?\b), do: "\\b"
  defp esc(?\f), do: "\\f"

  defp esc(b) do
    hex = Integer.to_string(b, 16)
    ["\\u", String.duplicate("0", 4 - byte_size(hex)), hex]
  end
end
