defmodule Pipeline.DSPy.Executor.Reference.Conditions do
  @moduledoc """
  A step's `condition`, evaluated as pipeline_ex's `Pipeline.Condition.Engine.evaluate/2` does
  (lib/pipeline/condition/engine.ex at ff625ec; line numbers are that file's), against the
  step results (`context.results`), never the variable state:

    * a map `%{"and" => [..]}`, `%{"or" => [..]}`, `%{"not" => c}` (104-119), a list = all (49-52);
    * a string: function calls first, then arithmetic with a comparison, then a comparison
      (`between`, `contains`, `matches`, `>=`, `<=`, `==`, `!=`, `>`, `<`, split at the first
      one found in that order), then arithmetic alone, else a dot path's truthiness
      (68-102, 121-272); values are quoted strings, numbers, `true`/`false`/`null`,
      `X.length`, or dot paths into the results: `quality_assessment.overall_score` is
      `results["quality_assessment"]["overall_score"]` (512-560);
    * truthiness: `nil`, `false`, `""`, `[]`, `%{}` are false (618-625).

  No `and`/`or` inside a string (pipeline_ex has none): `"a > 1 and b < 2"` compares `a` with
  the literal-or-path `"1 and b < 2"`. Condition functions evaluated: `contains`, `matches`,
  `length`, `startsWith`, `endsWith`, `toLowerCase`, `toUpperCase`, `trim`, `isEmpty`, `abs`,
  `round`, `floor`, `ceil`, `between` (condition/functions.ex:19-57); the others (`any`,
  `all`, `count`, `sum`, `average`, `min`, `max`, `now`, `days`, ...) are refused before a run
  (`unsupported_functions/1`). Where pipeline_ex raises (`get_in/2` through a string), this
  raises too.
  """

  alias Pipeline.DSPy.Template

  @supported ~w(contains matches length startsWith endsWith toLowerCase toUpperCase trim isEmpty abs round floor ceil between)

  @doc "The function names a condition calls that this module does not evaluate (outside `{{...}}`)."
  @spec unsupported_functions(term) :: [String.t()]
  def unsupported_functions(c) when is_binary(c) do
    outside = Regex.replace(~r/\{\{[^}]*\}\}/, c, "")
    for [_, f] <- Regex.scan(~r/(\w+)\s*\(/, outside), f not in @supported, uniq: true, do: f
  end

  def unsupported_functions(c) when is_map(c), do: c |> Map.values() |> unsupported_functions()

  def unsupported_functions(c) when is_list(c),
    do: c |> Enum.flat_map(&unsupported_functions/1) |> Enum.uniq()

  def unsupported_functions(_), do: []

  @doc "Whether condition `c` holds against the results of `ctx` (engine.ex:38-54); raises where pipeline_ex raises."
  @spec evaluate(term, Template.context()) :: boolean
  def evaluate(c, ctx) when is_binary(c), do: simple(c, ctx)
  def evaluate(%{"and" => cs}, ctx), do: Enum.all?(cs, &evaluate(&1, ctx))
  def evaluate(%{"or" => cs}, ctx), do: Enum.any?(cs, &evaluate(&1, ctx))
  def evaluate(%{"not" => c}, ctx), do: not evaluate(c, ctx)
  def evaluate(c, ctx) when is_map(c), do: simple(to_string(c), ctx)
  def evaluate(c, ctx) when is_list(c), do: Enum.all?(c, &evaluate(&1, ctx))
  def evaluate(nil, _), do: true
  # a number or boolean condition: no clause in pipeline_ex
  def evaluate(c, _),
    do:
      raise(FunctionClauseError,
        module: Pipeline.Condition.Engine,
        function: :evaluate,
        arity: 2,
        args: [c]
      )

  @comparisons [">", "<", "==", "!=", ">=", "<=", "contains", "matches", "between"]

  # evaluate_simple_condition/2 (68-102)
  defp simple(c, ctx) do
    cond do
      Regex.match?(~r/\w+\s*\(/, c) ->
        with_functions(c, ctx)

      String.contains?(c, ["+", "-", "*", "/", "%"]) and String.contains?(c, @comparisons) ->
        math_comparison(c, ctx)

      String.contains?(c, [">", "<", "==", "!=", "contains", "matches", "between"]) ->
        comparison(c, ctx)

      String.contains?(c, ["+", "-", "*", "/", "%"]) ->
        truthy?(math(c, ctx))

      true ->
        truthy?(field(c, ctx))
    end
  end

  # evaluate_expression_with_functions/2 (185-207)
  defp with_functions(e, ctx) do
    e = String.trim(e)

    cond do
      Regex.run(~r/^(\w+)\s*\(([^)]*)\)$/, e) ->
        truthy?(math_expression(e, ctx))

      String.contains?(e, [">", "<", "==", "!=", ">=", "<=", "between"]) ->
        math_comparison(e, ctx)

      true ->
        truthy?(math_expression(e, ctx))
    end
  end

  @math_ops [" between ", " >= ", " <= ", " == ", " != ", " > ", " < ", " contains ", " matches "]

  # evaluate_mathematical_comparison/2 (121-165)
  defp math_comparison(e, ctx) do
    e = String.trim(e)

    case Enum.find(@math_ops, &String.contains?(e, &1)) do
      nil ->
        truthy?(math_expression(e, ctx))

      " between " = op ->
        [l, r] = String.split(e, op, parts: 2)

        case String.split(String.trim(r), " and ", parts: 2) do
          [lo, hi] ->
            call("between", [value_expr(l, ctx), value_expr(lo, ctx), value_expr(hi, ctx)], ctx)

          _ ->
            false
        end

      op ->
        [l, r] = String.split(e, op, parts: 2)
        compare(value_expr(l, ctx), value_expr(r, ctx), String.trim(op), ctx)
    end
  end

  # evaluate_value_expression/2 (167-183)
  defp value_expr(e, ctx) do
    e = String.trim(e)

    cond do
      Regex.match?(~r/\w+\s*\(/, e) ->
        function_calls(e, ctx)

      String.contains?(e, ["+", "*", "/", "%"]) or
          (String.contains?(e, "-") and not Regex.match?(~r/^-?\d+(\.\d+)?$/, e)) ->
        math(e, ctx)

      true ->
        resolve(e, ctx)
    end
  end

  # evaluate_comparison/2 (209-272)
  defp comparison(e, ctx) do
    e = String.trim(e)

    cond do
      String.contains?(e, " between ") ->
        [l, r] = String.split(e, " between ", parts: 2)

        case String.split(String.trim(r), " and ", parts: 2) do
          [lo, hi] -> call("between", [resolve(l, ctx), resolve(lo, ctx), resolve(hi, ctx)], ctx)
          _ -> false
        end

      String.contains?(e, " contains ") ->
        binop(e, " contains ", ctx, &contains?/2)

      String.contains?(e, " matches ") ->
        binop(e, " matches ", ctx, &matches?/2)

      String.contains?(e, " >= ") ->
        binop(e, " >= ", ctx, &order(&1, &2, :>=))

      String.contains?(e, " <= ") ->
        binop(e, " <= ", ctx, &order(&1, &2, :<=))

      String.contains?(e, " == ") ->
        binop(e, " == ", ctx, &(&1 == &2))

      String.contains?(e, " != ") ->
        binop(e, " != ", ctx, &(&1 != &2))

      String.contains?(e, " > ") ->
        binop(e, " > ", ctx, &order(&1, &2, :>))

      String.contains?(e, " < ") ->
        binop(e, " < ", ctx, &order(&1, &2, :<))

      true ->
        truthy?(field(e, ctx))
    end
  end

  defp binop(e, op, ctx, f) do
    [l, r] = String.split(e, op, parts: 2)
    f.(resolve(l, ctx), resolve(r, ctx))
  end

  # evaluate_field_access / resolve_field_access (274-292)
  defp field(path, ctx) do
    case String.split(path, ".") do
      [step] -> get_in(ctx.results, [step])
      parts -> get_in(ctx.results, parts)
    end
  end

  # evaluate_mathematical_expression/2 (296-307)
  defp math_expression(e, ctx) do
    e = String.trim(e)
    if Regex.match?(~r/\w+\s*\(/, e), do: function_calls(e, ctx), else: math(e, ctx)
  end

  # evaluate_function_calls/2 (309-330)
  defp function_calls(e, ctx) do
    case Regex.run(~r/^(\w+)\s*\(([^)]*)\)$/, String.trim(e)) do
      [_, name, args] ->
        call(name, args(args), ctx)

      nil ->
        Regex.replace(~r/(\w+)\s*\(([^)]*)\)/, e, fn _, name, args ->
          to_string(call(name, args(args), ctx))
        end)
        |> math(ctx)
    end
  end

  defp args(""), do: []
  defp args(s), do: s |> String.split(",") |> Enum.map(&String.trim/1)

  # evaluate_math_with_precedence/2 (341-368): split at the rightmost lowest-precedence operator
  defp math(e, ctx) do
    e = String.trim(e)

    case rightmost(e, ["+", "-"]) || rightmost(e, ["*", "/", "%"]) do
      {op, l, r} -> arith(math(l, ctx), math(r, ctx), op)
      nil -> resolve(e, ctx)
    end
  end

  defp rightmost(e, ops) do
    ops
    |> Enum.flat_map(fn op -> for {pos, _} <- :binary.matches(e, op), do: {pos, op} end)
    |> Enum.max_by(fn {pos, _} -> pos end, fn -> nil end)
    |> case do
      nil ->
        nil

      {pos, op} ->
        <<l::binary-size(pos), _::binary-size(byte_size(op)), r::binary>> = e
        {op, l, r}
    end
  end

  # perform_math_operation/3 (436-468)
  defp arith(l, r, op) when is_number(l) and is_number(r) do
    case op do
      "+" -> l + r
      "-" -> l - r
      "*" -> l * r
      "/" -> if r != 0, do: l / r, else: 0
      "%" -> if r != 0, do: rem(trunc(l), trunc(r)), else: 0
    end
  end

  defp arith(l, r, op) do
    {ln, rn} = {to_number(l), to_number(r)}
    if is_number(ln) and is_number(rn), do: arith(ln, rn, op), else: :type_error
  end

  defp to_number(v) when is_binary(v) do
    case Float.parse(v) do
      {n, ""} ->
        n

      _ ->
        case Integer.parse(v) do
          {n, ""} -> n
          _ -> v
        end
    end
  end

  defp to_number(v), do: v

  # perform_comparison/4 (490-503)
  defp compare(l, r, op, ctx) do
    case op do
      ">" -> order(l, r, :>)
      "<" -> order(l, r, :<)
      ">=" -> order(l, r, :>=)
      "<=" -> order(l, r, :<=)
      "==" -> l == r
      "!=" -> l != r
      "contains" -> call("contains", [l, r], ctx)
      "matches" -> call("matches", [l, r], ctx)
    end
  end

  # compare_values/3 (567-583): numbers with numbers, strings with strings, else false
  defp order(l, r, op) when (is_number(l) and is_number(r)) or (is_binary(l) and is_binary(r)) do
    case op do
      :> -> l > r
      :< -> l < r
      :>= -> l >= r
      :<= -> l <= r
    end
  end

  defp order(_, _, _), do: false

  defp contains?(h, n) when is_binary(h) and is_binary(n), do: String.contains?(h, n)
  defp contains?(h, n) when is_list(h), do: Enum.member?(h, n)
  defp contains?(_, _), do: false

  defp matches?(v, p) when is_binary(v) and is_binary(p) do
    case Regex.compile(p) do
      {:ok, re} -> Regex.match?(re, v)
      _ -> false
    end
  end

  defp matches?(_, _), do: false

  # resolve_value_private/2 (512-560)
  defp resolve(v, ctx) when is_binary(v) do
    v = String.trim(v)

    cond do
      quoted?(v, "'") or quoted?(v, "\"") -> String.slice(v, 1..-2//1)
      Regex.match?(~r/^-?\d+$/, v) -> String.to_integer(v)
      Regex.match?(~r/^-?\d+\.\d+$/, v) -> String.to_float(v)
      v == "true" -> true
      v == "false" -> false
      v == "null" -> nil
      String.contains?(v, ".length") -> v |> String.replace(".length", "") |> field(ctx) |> len()
      true -> field(v, ctx)
    end
  end

  defp resolve(v, _), do: v

  defp quoted?(v, q), do: String.starts_with?(v, q) and String.ends_with?(v, q)

  defp len(v) when is_list(v), do: length(v)
  defp len(v) when is_binary(v), do: String.length(v)
  defp len(v) when is_map(v), do: map_size(v)
  defp len(_), do: 0

  # Pipeline.Condition.Functions.call_function/3 (condition/functions.ex:19-57), the pure ones
  defp call(name, args, ctx) do
    vals = Enum.map(args, &resolve(&1, ctx))

    case {name, vals} do
      {"contains", [h, n]} ->
        contains?(h, n)

      {"matches", [v, p]} ->
        matches?(v, p)

      {"length", [v]} ->
        len(v)

      {"startsWith", [s, p]} ->
        is_binary(s) and is_binary(p) and String.starts_with?(s, p)

      {"endsWith", [s, p]} ->
        is_binary(s) and is_binary(p) and String.ends_with?(s, p)

      {"toLowerCase", [s]} ->
        if is_binary(s), do: String.downcase(s), else: s

      {"toUpperCase", [s]} ->
        if is_binary(s), do: String.upcase(s), else: s

      {"trim", [s]} ->
        if is_binary(s), do: String.trim(s), else: s

      {"isEmpty", [v]} ->
        v in [nil, "", [], %{}]

      {"abs", [v]} ->
        if is_number(v), do: abs(v), else: 0

      {"round", [v]} ->
        if is_number(v), do: round(v), else: 0

      {"floor", [v]} ->
        if is_number(v), do: floor(v), else: 0

      {"ceil", [v]} ->
        if is_number(v), do: ceil(v), else: 0

      {"between", [v, lo, hi]} ->
        is_number(v) and is_number(lo) and is_number(hi) and v >= lo and v <= hi

      {name, _} when name in @supported ->
        raise FunctionClauseError,
          module: Pipeline.Condition.Functions,
          function: :call_function,
          arity: 3

      _ ->
        raise ArgumentError, "Unknown function: #{name}"
    end
  end

  defp truthy?(v), do: v not in [nil, false, "", [], %{}]
end
