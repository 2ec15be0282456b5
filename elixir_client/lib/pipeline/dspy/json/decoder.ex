defmodule Pipeline.DSPy.JSON.Decoder do
  @moduledoc """
  Our own RFC 8259 JSON decoder (used when neither Jason nor Elixir's `JSON` is available).

  Objects become maps with string keys (a repeated key: the last wins), integers stay exact
  at any size, numbers with a fraction or exponent become floats, `\\uXXXX` escapes
  including surrogate pairs are decoded; lone surrogates, invalid UTF-8, raw control
  characters, trailing data, and nesting deeper than #{10_000} are errors with the byte
  position where decoding failed.
  """

  alias Pipeline.DSPy.JSON.DecodeError
  import Bitwise, only: [<<<: 2]

  @max_depth 10_000

  @spec decode(binary) :: {:ok, term} | {:error, DecodeError.t()}
  def decode(bin) when is_binary(bin) do
    {v, rest} = value(ws(bin), 0)

    case ws(rest) do
      <<>> -> {:ok, v}
      r -> fail(r, "unexpected data after the JSON value")
    end
  catch
    {:json_decode_error, rest, msg} ->
      {:error, %DecodeError{position: byte_size(bin) - byte_size(rest), message: msg}}
  end

  defp fail(rest, msg), do: throw({:json_decode_error, rest, msg})

  defp ws(<<c, rest::binary>>) when c in [?\s, ?\t, ?\n, ?\r], do: ws(rest)
  defp ws(rest), do: rest

  defp value(<<?{, rest::binary>> = r, depth), do: object(ws(rest), r, depth + 1)
  defp value(<<?[, rest::binary>> = r, depth), do: array(ws(rest), r, depth + 1)
  defp value(<<?", rest::binary>>, _), do: string(rest, rest, 0, [])
  defp value(<<"true", rest::binary>>, _), do: {true, rest}
  defp value(<<"false", rest::binary>>, _), do: {false, rest}
  defp value(<<"null", rest::binary>>, _), do: {nil, rest}
  defp value(<<c, _::binary>> = r, _) when c == ?- or c in ?0..?9, do: number(r)
  defp value(<<>> = r, _), do: fail(r, "unexpected end of input")
  defp value(r, _), do: fail(r, "unexpected byte #{inspect(binary_part(r, 0, 1))}")

  defp check_depth(r, depth) when depth > @max_depth,
    do: fail(r, "nesting deeper than #{@max_depth}")

  defp check_depth(_, _), do: :ok

  defp array(<<?], rest::binary>>, r, depth) do
    check_depth(r, depth)
    {[], rest}
  end

  defp array(rest, r, depth) do
    check_depth(r, depth)
    array_items(rest, depth, [])
  end

  defp array_items(rest, depth, acc) do
    {v, rest} = value(rest, depth)

    case ws(rest) do
      <<?,, rest::binary>> -> array_items(ws(rest), depth, [v | acc])
      <<?], rest::binary>> -> {:lists.reverse(acc, [v]), rest}
      r -> fail(r, "expected ',' or ']' in array")
    end
  end

  defp object(<<?}, rest::binary>>, r, depth) do
    check_depth(r, depth)
    {%{}, rest}
  end

  defp object(rest, r, depth) do
    check_depth(r, depth)
    object_members(rest, depth, [])
  end

  defp object_members(<<?", rest::binary>>, depth, acc) do
    {k, rest} = string(rest, rest, 0, [])

    rest =
      case ws(rest) do
        <<?:, rest::binary>> -> ws(rest)
        r -> fail(r, "expected ':' after object key")
      end

    {v, rest} = value(rest, depth)

    case ws(rest) do
      <<?,, rest::binary>> -> object_members(ws(rest), depth, [{k, v} | acc])
      <<?}, rest::binary>> -> {:maps.from_list(:lists.reverse(acc, [{k, v}])), rest}
      r -> fail(r, "expected ',' or '}' in object")
    end
  end

  defp object_members(r, _depth, _acc), do: fail(r, "expected a string object key")

  # string(rest, chunk_start, chunk_len, acc): copies unescaped runs as sub-binaries. (A
  # :binary.match-based scan was measured slower on typical frames: keys and short values.)
  defp string(<<?", rest::binary>>, start, len, acc),
    do: {finish(acc, binary_part(start, 0, len)), rest}

  defp string(<<?\\, rest::binary>> = r, start, len, acc) do
    acc = [acc | binary_part(start, 0, len)]
    {piece, rest} = escape(rest, r)
    string(rest, rest, 0, [acc | piece])
  end

  defp string(<<c, rest::binary>>, start, len, acc) when c >= 0x20 and c < 0x80,
    do: string(rest, start, len + 1, acc)

  defp string(<<c, _::binary>> = r, _start, _len, _acc) when c < 0x20,
    do: fail(r, "unescaped control character in string")

  defp string(<<c::utf8, rest::binary>>, start, len, acc) do
    n = if c < 0x800, do: 2, else: if(c < 0x10000, do: 3, else: 4)
    string(rest, start, len + n, acc)
  end

  defp string(<<>> = r, _start, _len, _acc), do: fail(r, "unterminated string")
  defp string(r, _start, _len, _acc), do: fail(r, "invalid UTF-8 in string")

  defp finish([], bin), do: bin
  defp finish(acc, bin), do: IO.iodata_to_binary([acc | bin])

  defp escape(<<?", rest::binary>>, _), do: {"\"", rest}
  defp escape(<<?\\, rest::binary>>, _), do: {"\\", rest}
  defp escape(<<?/, rest::binary>>, _), do: {"/", rest}
  defp escape(<<?b, rest::binary>>, _), do: {"\b", rest}
  defp escape(<<?f, rest::binary>>, _), do: {"\f", rest}
  defp escape(<<?n, rest::binary>>, _), do: {"\n", rest}
  defp escape(<<?r, rest::binary>>, _), do: {"\r", rest}
  defp escape(<<?t, rest::binary>>, _), do: {"\t", rest}

  defp escape(<<?u, a, b, c, d, rest::binary>>, r) do
    case hex(a, b, c, d, r) do
      hi when hi in 0xD800..0xDBFF ->
        case rest do
          <<?\\, ?u, e, f, g, h, rest2::binary>> ->
            case hex(e, f, g, h, rest) do
              lo when lo in 0xDC00..0xDFFF ->
                {<<0x10000 + ((hi - 0xD800) <<< 10) + (lo - 0xDC00)::utf8>>, rest2}

              _ ->
                fail(r, "lone high surrogate in \\u escape")
            end

          _ ->
            fail(r, "lone high surrogate in \\u escape")
        end

      lo when lo in 0xDC00..0xDFFF ->
        fail(r, "lone low surrogate in \\u escape")

      cp ->
        {<<cp::utf8>>, rest}
    end
  end

  defp escape(_, r), do: fail(r, "invalid escape sequence")

  defp hex(a, b, c, d, r) do
    case Integer.parse(<<a, b, c, d>>, 16) do
      {n, ""} when n >= 0 -> n
      _ -> fail(r, "invalid \\u escape")
    end
  end

  # Fast path: a plain integer (no fraction, no exponent) accumulates as it scans.
  defp number(<<?-, c, _::binary>> = r) when c in ?1..?9,
    do: int_fast(binary_part(r, 1, byte_size(r) - 1), 0, r, -1)

  defp number(<<c, _::binary>> = r) when c in ?1..?9, do: int_fast(r, 0, r, 1)
  defp number(r), do: number_slow(r)

  defp int_fast(<<c, rest::binary>>, acc, r, sign) when c in ?0..?9,
    do: int_fast(rest, acc * 10 + (c - ?0), r, sign)

  defp int_fast(<<c, _::binary>>, _acc, r, _sign) when c in [?., ?e, ?E], do: number_slow(r)
  defp int_fast(rest, acc, _r, sign), do: {sign * acc, rest}

  defp number_slow(r) do
    {rest1, int_len} = num_int(r)
    {rest2, frac_len} = num_frac(rest1, r)
    {rest3, exp_len} = num_exp(rest2, r)
    text = binary_part(r, 0, int_len + frac_len + exp_len)

    if frac_len == 0 and exp_len == 0 do
      {String.to_integer(text), rest3}
    else
      int = binary_part(r, 0, int_len)
      frac = if frac_len == 0, do: ".0", else: binary_part(r, int_len, frac_len)
      exp = binary_part(r, int_len + frac_len, exp_len)

      try do
        {:erlang.binary_to_float(IO.iodata_to_binary([int, frac, exp])), rest3}
      rescue
        ArgumentError -> fail(r, "number out of range")
      end
    end
  end

  defp num_int(<<?-, rest::binary>> = r) do
    {rest, n} = num_int_abs(rest, r)
    {rest, n + 1}
  end

  defp num_int(r), do: num_int_abs(r, r)

  defp num_int_abs(<<?0, rest::binary>>, _), do: {rest, 1}
  defp num_int_abs(<<c, _::binary>> = r, _) when c in ?1..?9, do: digits(r, 0)
  defp num_int_abs(_, r), do: fail(r, "invalid number")

  defp digits(<<c, rest::binary>>, n) when c in ?0..?9, do: digits(rest, n + 1)
  defp digits(rest, n), do: {rest, n}

  defp num_frac(<<?., c, _::binary>> = rest, _r) when c in ?0..?9 do
    <<?., tail::binary>> = rest
    {rest, n} = digits(tail, 0)
    {rest, n + 1}
  end

  defp num_frac(<<?., _::binary>>, r), do: fail(r, "invalid number: digits expected after '.'")
  defp num_frac(rest, _), do: {rest, 0}

  defp num_exp(<<e, rest::binary>>, r) when e in [?e, ?E] do
    {rest, sign} =
      case rest do
        <<s, rest::binary>> when s in [?+, ?-] -> {rest, 1}
        _ -> {rest, 0}
      end

    case digits(rest, 0) do
      {_, 0} -> fail(r, "invalid number: digits expected in exponent")
      {rest, n} -> {rest, n + sign + 1}
    end
  end

  defp num_exp(rest, _), do: {rest, 0}
end
