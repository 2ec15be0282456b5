defmodule Pipeline.DSPy.JSONTest do
  use ExUnit.Case, async: true

  alias Pipeline.DSPy.JSON
  alias Pipeline.DSPy.JSON.{Decoder, DecodeError, Encoder}

  # Our own codec is tested directly (the facade may pick Jason or Elixir's JSON in a host app).
  defp enc!(t), do: t |> Encoder.encode() |> elem(1) |> IO.iodata_to_binary()
  defp dec(b), do: Decoder.decode(b)

  describe "protocol vectors" do
    test "every protocol/vectors file decodes, re-encodes and decodes to the same term" do
      files = Pipeline.DSPy.VectorReplayer.vector_files()
      assert files != []

      for f <- files do
        bin = File.read!(f)
        assert {:ok, term} = dec(bin), "#{f} did not decode"
        assert {:ok, ^term} = dec(enc!(term)), "#{f} did not round-trip"
      end
    end
  end

  describe "decoding" do
    test "escapes, unicode and surrogate pairs" do
      assert {:ok, "a\"b\\c/d\b\f\n\r\t"} = dec(~S("a\"b\\c\/d\b\f\n\r\t"))
      assert {:ok, "é€😀"} = dec(~S("\u00e9\u20AC\ud83d\ude00"))
      assert {:ok, "é€😀"} = dec(~s("é€😀"))
    end

    test "numbers: big integers stay exact, floats, exponents, negative zero" do
      big = 123_456_789_012_345_678_901_234_567_890_123_456_789
      assert {:ok, ^big} = dec(Integer.to_string(big))
      assert {:ok, -5} = dec("-5")
      assert {:ok, 1.5e-7} = dec("1.5e-7")
      assert {:ok, 100.0} = dec("1E2")
      assert {:ok, 0.25} = dec("0.25")
      assert {:ok, v} = dec("-0.0")
      assert v == 0.0
    end

    test "deep nesting" do
      deep = String.duplicate("[", 5_000) <> "1" <> String.duplicate("]", 5_000)
      assert {:ok, v} = dec(deep)
      assert Enum.reduce(1..5_000, v, fn _, [x] -> x end) == 1
    end

    test "invalid input gives a DecodeError with the byte position" do
      cases = [
        {"", 0, "end of input"},
        {"[1,2", 4, "expected"},
        {"{\"a\" 1}", 5, "':'"},
        {"[1,]", 3, "unexpected byte"},
        {"01", 1, "after the JSON value"},
        {"1.", 0, "digits"},
        {"1e", 0, "exponent"},
        {"\"abc", 4, "unterminated"},
        {"\"a\u0001\"", 2, "control character"},
        {"\"\\x\"", 1, "escape"},
        {"\"\\ud800\"", 1, "surrogate"},
        {"\"\\udc00\"", 1, "surrogate"},
        {"\"\\u12G4\"", 1, "\\u"},
        {<<?", 0xC3, 0x28, ?">>, 1, "UTF-8"},
        {"1e400", 0, "out of range"},
        {"nul", 0, "unexpected byte"},
        {"{1:2}", 1, "string object key"},
        {"[1] x", 4, "after the JSON value"}
      ]

      for {input, pos, msg} <- cases do
        assert {:error, %DecodeError{position: ^pos, message: m} = e} = dec(input),
               "input #{inspect(input)} gave #{inspect(dec(input))}"

        assert m =~ msg, "input #{inspect(input)}: #{m}"
        assert Exception.message(e) =~ "at byte #{pos}"
      end
    end

    test "edge cases of the single-pass decoder (positions, numbers, escapes, keys)" do
      # numbers: signs, exponents with and without a fraction, -0 stays an integer
      assert {:ok, 100_000.0} = dec("1e+5")
      assert {:ok, 0.01} = dec("1E-2")
      assert {:ok, 1500.0} = dec("1.5E+3")
      assert {:ok, 0.0} = dec("0e0")
      assert {:ok, 0} = dec("-0")
      assert {:ok, [-12, 3.5, 0]} = dec("[-12,3.5,0]")
      assert {:ok, %{"a" => -7}} = dec(~s({"a":-7}))

      # a repeated key: the last one wins
      assert {:ok, %{"a" => 2, "b" => 1}} = dec(~s({"a":1,"b":1,"a":2}))

      # whitespace everywhere JSON allows it, empty containers with spaces inside
      assert {:ok, %{"k" => [], "o" => %{}, "s" => ""}} =
               dec(" \r\n\t{ \"k\" : [ ] , \"o\":{ \t}, \"s\" :\"\" } \n")

      # escapes: at the start, the end, back to back, mixed with non-ASCII; in keys too
      assert {:ok, "\n\téAx"} = dec(~S("\n\té\u0041x"))
      assert {:ok, "\""} = dec(~S("\""))
      assert {:ok, %{"a\nb" => "c\\"}} = dec(~S({"a\nb":"c\\"}))
      assert {:ok, "😀"} = dec(~S("\uD83D\uDE00"))

      for {input, pos, msg} <- [
            {"-", 0, "invalid number"},
            {"-a", 0, "invalid number"},
            {"[-]", 1, "invalid number"},
            {"-01", 2, "after the JSON value"},
            {"1.e5", 0, "digits"},
            {"1e+", 0, "exponent"},
            {"[1 2]", 3, "expected ',' or ']'"},
            {~s({"a":1 "b":2}), 7, "expected ',' or '}'"},
            {~s({"a":1,}), 7, "string object key"},
            {~s("\\u+123"), 1, "\\u"},
            {~s("\\u12"), 1, "escape"},
            {~s("\\ud83d\\u0041"), 1, "surrogate"},
            {~s("ab\\), 3, "escape"},
            {"[tru]", 1, "unexpected byte"},
            {"{\"a\":1}}", 7, "after the JSON value"}
          ] do
        assert {:error, %DecodeError{position: ^pos, message: m}} = dec(input),
               "input #{inspect(input)} gave #{inspect(dec(input))}"

        assert m =~ msg, "input #{inspect(input)}: #{m}"
      end
    end

    test "nesting limit counts objects and arrays alike" do
      ok = String.duplicate(~s({"n":[), 5_000) <> "1" <> String.duplicate("]}", 5_000)
      assert {:ok, %{"n" => [_]}} = dec(ok)
      deep = String.duplicate(~s({"n":), 10_001) <> "1" <> String.duplicate("}", 10_001)
      assert {:error, %DecodeError{message: m}} = dec(deep)
      assert m =~ "nesting"
    end

    test "nesting beyond the limit is an error, not a crash" do
      deep = String.duplicate("[", 10_001) <> String.duplicate("]", 10_001)
      assert {:error, %DecodeError{message: m}} = dec(deep)
      assert m =~ "nesting"
    end
  end

  describe "encoding" do
    test "escapes control characters, quotes and backslashes; keeps unicode as UTF-8" do
      assert enc!("a\"\\\n\u0001é😀") == ~s("a\\"\\\\\\n\\u0001é😀")
    end

    test "atoms, keys, nil/booleans, dates" do
      assert enc!(%{a: nil}) == ~s({"a":null})
      assert enc!([true, false, :x]) == ~s([true,false,"x"])
      assert enc!(~D[2024-01-02]) == ~s("2024-01-02")
    end

    test "terms with no JSON form and invalid UTF-8 are errors" do
      assert {:error, %JSON.EncodeError{}} = Encoder.encode({1, 2})
      assert {:error, %JSON.EncodeError{}} = Encoder.encode(self())
      assert {:error, %JSON.EncodeError{message: m}} = Encoder.encode(<<0xFF>>)
      assert m =~ "UTF-8"
      assert {:error, _} = Encoder.encode(%{{1} => 1})
    end

    test "floats use the shortest form that reads back to the same float" do
      for f <- [0.1, 1.0e300, -2.5e-300, 123.456, 5.0e-324, 1.7976931348623157e308] do
        assert {:ok, ^f} = dec(enc!(f))
      end
    end
  end

  describe "properties (seeded generator)" do
    @runs 300

    test "decode(encode(t)) == t for random JSON terms" do
      seed = :rand.seed(:exsss, {101, 202, 303})

      Enum.reduce(1..@runs, seed, fn i, _ ->
        t = gen(0)
        bin = enc!(t)
        assert {:ok, t2} = dec(bin), "run #{i}: #{inspect(bin)}"
        assert equal?(t, t2), "run #{i}: #{inspect(t)} != #{inspect(t2)}"
        nil
      end)
    end

    test "encode output always decodes the same with whitespace added between tokens" do
      :rand.seed(:exsss, {7, 8, 9})

      for _ <- 1..50 do
        t = gen(0)
        spaced = enc!(t) |> add_ws()
        assert {:ok, t2} = dec(spaced)
        assert equal?(t, t2)
      end
    end

    test "truncating any encoded document gives an error, never a crash" do
      :rand.seed(:exsss, {4, 5, 6})

      for _ <- 1..40 do
        bin = enc!(%{"k" => gen(0), "z" => [1, "x"]})

        for cut <- 0..(byte_size(bin) - 1)//max(1, div(byte_size(bin), 20)) do
          assert {:error, %DecodeError{position: p}} = dec(binary_part(bin, 0, cut))
          assert p <= cut
        end
      end
    end
  end

  # Floats compare numerically (1.0 == 1.0); otherwise exact.
  defp equal?(a, b) when is_map(a) and is_map(b),
    do:
      map_size(a) == map_size(b) and
        Enum.all?(a, fn {k, v} -> Map.has_key?(b, k) and equal?(v, b[k]) end)

  defp equal?(a, b) when is_list(a) and is_list(b),
    do: length(a) == length(b) and Enum.all?(Enum.zip(a, b), fn {x, y} -> equal?(x, y) end)

  defp equal?(a, b) when is_float(a) and is_float(b), do: a == b
  defp equal?(a, b), do: a === b

  defp gen(depth) do
    kind = if depth > 6, do: :rand.uniform(6), else: :rand.uniform(9)

    case kind do
      1 -> nil
      2 -> :rand.uniform(2) == 1
      3 -> gen_int()
      4 -> gen_float()
      5 -> gen_string()
      6 -> gen_string()
      7 -> for _ <- 1..:rand.uniform(5), do: gen(depth + 1)
      8 -> Map.new(1..:rand.uniform(5), fn _ -> {gen_string(), gen(depth + 1)} end)
      9 -> nest(:rand.uniform(50), gen(depth + 1))
    end
  end

  defp nest(0, t), do: t
  defp nest(n, t), do: nest(n - 1, if(rem(n, 2) == 0, do: [t], else: %{"n" => t}))

  defp gen_int do
    case :rand.uniform(4) do
      1 -> :rand.uniform(100) - 50
      2 -> :rand.uniform(1_000_000_000_000) * Enum.random([-1, 1])
      3 -> Integer.pow(10, :rand.uniform(60)) + :rand.uniform(1000)
      4 -> -Integer.pow(2, 64 + :rand.uniform(64))
    end
  end

  defp gen_float do
    case :rand.uniform(3) do
      1 -> :rand.uniform() * 1000 - 500
      2 -> :rand.normal() * :math.pow(10, :rand.uniform(600) - 300)
      3 -> Enum.random([0.0, 1.0, -1.5, 1.0e-10, 5.0e-324, 1.7976931348623157e308])
    end
  end

  @pool [
    ?a,
    ?Z,
    ?0,
    ?\s,
    ?",
    ?\\,
    ?/,
    ?\n,
    ?\r,
    ?\t,
    ?\b,
    ?\f,
    0,
    1,
    0x1F,
    0x7F,
    0xE9,
    0x20AC,
    0x2028,
    0xFFFF,
    0x1F600,
    0x10FFFF,
    0xD7FF,
    0xE000
  ]

  defp gen_string do
    for _ <- 0..:rand.uniform(12), into: "" do
      c =
        if :rand.uniform(3) == 1,
          do: Enum.random(@pool),
          else:
            Enum.random([
              Enum.random(0x20..0x7E),
              Enum.random(0x80..0xD7FF),
              Enum.random(0xE000..0x10FFFF)
            ])

      <<c::utf8>>
    end
  end

  # Adds whitespace after structural characters outside strings.
  defp add_ws(bin), do: add_ws(bin, false, [])
  defp add_ws(<<>>, _, acc), do: acc |> Enum.reverse() |> IO.iodata_to_binary()
  defp add_ws(<<?\\, c, rest::binary>>, true, acc), do: add_ws(rest, true, [<<?\\, c>> | acc])
  defp add_ws(<<?", rest::binary>>, in_str, acc), do: add_ws(rest, not in_str, [?" | acc])

  defp add_ws(<<c, rest::binary>>, false, acc) when c in ~c"[]{},:",
    do: add_ws(rest, false, [" \n\t ", c, " " | acc])

  defp add_ws(<<c, rest::binary>>, s, acc), do: add_ws(rest, s, [c | acc])
end
