defmodule Pipeline.DSPy.Template do
  @moduledoc """
  pipeline_ex's `{{...}}` templates, as its variable engine resolves them
  (`Pipeline.State.VariableEngine`, lib/pipeline/state/variable_engine.ex at ff625ec; line
  numbers below are that file's unless said otherwise).

  An execution context is a map with `:results` (step name => result), `:variable_state`
  (`%{global: map, session: map, loop: map}`), optionally `:global_vars` (the workflow's) and
  `:inputs` (present when the run was given inputs: then a string that is one whole template
  keeps the value's type, `interpolate_data/2` picks that mode as `executor.ex:774-776` does).

  Expressions (`evaluate/2`, 298-330), in pipeline_ex's order:

    * `name(args)` - a function call: `multiply`, `add`, `subtract`, `divide`, `max`, `min`,
      `round`, `floor`, `ceil`; an unknown function gives back `name(args)` (566-721);
    * `inputs.x.y` - the run's inputs; not found: the template is kept as written (632-659);
    * `global_vars.x` - one flat key of the workflow's `global_vars`; not found: kept (661-674);
    * `steps.NAME.path` - a step result; a missing path falls back into the result's
      `"result"` map; not found: kept (332-399);
    * anything with `+ - * /` - integer arithmetic over `state.` paths or bare names (missing
      ones count as 0); not computable: the expression with the names substituted (412-558);
    * `state.x.y` - variables (loop, then session, then global scope); missing: blank;
    * a bare name - a variable; unknown: blank (`nil` becomes `""`).

  Interpolation into text uses `to_string/1`, as pipeline_ex does (130-135): a map raises
  `Protocol.UndefinedError` (pipeline_ex crashes the same way), a list of strings is run together.
  """

  @typedoc "Variables by scope (`set_variable`'s `scope`)."
  @type state :: %{global: map, session: map, loop: map}

  @typedoc "A variable scope."
  @type scope :: :global | :session | :loop

  @typedoc """
  An execution context, as described above; other keys (the executor's own) are ignored.
  """
  @type context :: %{
          optional(:results) => %{optional(String.t()) => term},
          optional(:variable_state) => state,
          optional(:global_vars) => map,
          optional(:inputs) => map,
          optional(atom) => term
        }

  @template ~r/\{\{([^}]+)\}\}/
  @whole ~r/^\{\{([^}]+)\}\}$/

  @doc "A fresh variable state (`new_state/0`, 14-22)."
  @spec new_state() :: state
  def new_state, do: %{global: %{}, session: %{}, loop: %{}}

  @doc """
  Interpolates every string inside `data` (maps, lists) against `context`; type-preserving
  when the context has `:inputs` (`executor.ex:766-781`).
  """
  @spec interpolate_data(term, context) :: term
  def interpolate_data(data, context) do
    if Map.has_key?(context, :inputs),
      do: walk(data, &interpolate_preserving(&1, context)),
      else: walk(data, &interpolate_string(&1, context))
  end

  defp walk(data, f) when is_map(data), do: Map.new(data, fn {k, v} -> {k, walk(v, f)} end)
  defp walk(data, f) when is_list(data), do: Enum.map(data, &walk(&1, f))
  defp walk(data, f) when is_binary(data), do: f.(data)
  defp walk(data, _f), do: data

  @doc "Every `{{expr}}` of `text` replaced by `to_string` of its value (128-136)."
  @spec interpolate_string(String.t(), context) :: String.t()
  def interpolate_string(text, context) when is_binary(text) do
    Regex.replace(@template, text, fn _, expr ->
      expr |> String.trim() |> evaluate(context) |> to_string()
    end)
  end

  @doc "As `interpolate_string/2`, but a string that is one whole template gives its value (144-162)."
  @spec interpolate_preserving(String.t(), context) :: term
  def interpolate_preserving(text, context) when is_binary(text) do
    case Regex.run(@whole, String.trim(text)) do
      [_, expr] -> expr |> String.trim() |> evaluate(context)
      nil -> interpolate_string(text, context)
    end
  end

  @doc "The value of one template expression (298-330)."
  @spec evaluate(String.t(), context) :: term
  def evaluate(expr, context),
    do: eval(expr, Map.get(context, :variable_state) || new_state(), context, true)

  # evaluate_expression_with_context/3 (298-330); with `full?` false, evaluate_expression/2
  # (276-296), which set_variable uses: no inputs/global_vars/steps forms
  defp eval(expr, state, context, full?) do
    cond do
      String.match?(expr, ~r/^[a-zA-Z_][a-zA-Z0-9_]*\s*\(/) ->
        function_call(expr, state, context)

      full? and String.starts_with?(expr, "inputs.") ->
        inputs_variable(expr, context)

      full? and String.starts_with?(expr, "global_vars.") ->
        global_var(expr, context)

      full? and String.starts_with?(expr, "steps.") ->
        step_result(expr, context)

      String.contains?(expr, ["+", "-", "*", "/"]) ->
        arithmetic(expr, state)

      String.starts_with?(expr, "state.") ->
        nested_variable(state, String.replace_leading(expr, "state.", ""))

      true ->
        get_variable(state, expr)
    end
  end

  @doc "A variable by name: loop scope, then session, then global (60-67)."
  @spec get_variable(state, String.t()) :: term
  def get_variable(state, name) do
    cond do
      Map.has_key?(state.loop, name) -> state.loop[name]
      Map.has_key?(state.session, name) -> state.session[name]
      Map.has_key?(state.global, name) -> state.global[name]
      true -> nil
    end
  end

  @doc """
  `set_variables/3` (37-46): each value that is one whole template is evaluated (with the
  state only: no steps or inputs, 260-272), others have their templates interpolated.
  """
  @spec set_variables(state, map, scope) :: state
  def set_variables(state, variables, scope) when scope in [:global, :session, :loop] do
    resolved =
      Map.new(variables, fn {k, v} ->
        {k, resolve_value(v, %{variable_state: state, results: %{}})}
      end)

    Map.update!(state, scope, &Map.merge(&1, resolved))
  end

  defp resolve_value(v, ctx) when is_binary(v) do
    case Regex.run(~r/^\{\{(.+)\}\}$/, String.trim(v)) do
      [_, expr] ->
        expr |> String.trim() |> eval(ctx.variable_state, %{}, false)

      nil ->
        Regex.replace(@template, v, fn _, e ->
          e |> String.trim() |> eval(ctx.variable_state, %{}, false) |> to_string()
        end)
    end
  end

  defp resolve_value(v, _), do: v

  defp all_variables(state), do: state.global |> Map.merge(state.session) |> Map.merge(state.loop)

  # get_nested_variable/2 (418-428)
  defp nested_variable(state, path) do
    Enum.reduce(String.split(path, "."), all_variables(state), fn key, acc ->
      case acc do
        %{} -> Map.get(acc, key)
        _ -> nil
      end
    end)
  end

  # resolve_step_result/2 (332-399)
  defp step_result(expr, context) do
    [name | rest] = expr |> String.replace_leading("steps.", "") |> String.split(".")
    result = get_in(context, [:results, name])

    cond do
      result == nil ->
        "{{#{expr}}}"

      rest != [] ->
        value =
          case nested(result, rest) do
            nil ->
              case result do
                %{} = m ->
                  case Map.get(m, "result") do
                    nil -> if rest == ["result"], do: result, else: nil
                    inner -> nested(inner, rest)
                  end

                _ ->
                  if rest == ["result"], do: result, else: nil
              end

            v ->
              v
          end

        if value == nil, do: "{{#{expr}}}", else: value

      true ->
        result
    end
  end

  # get_nested_value_from_map/2 (401-410)
  defp nested(data, []), do: data

  defp nested(data, [k | rest]) when is_map(data) do
    case Map.get(data, k) do
      nil -> nil
      v -> nested(v, rest)
    end
  end

  defp nested(_, _), do: nil

  # resolve_inputs_variable/2 (632-659)
  defp inputs_variable(expr, context) do
    [name | rest] = expr |> String.replace_leading("inputs.", "") |> String.split(".")
    value = get_in(context, [:inputs, name])

    cond do
      value && rest != [] -> nested(value, rest) || "{{#{expr}}}"
      value != nil -> value
      true -> "{{#{expr}}}"
    end
  end

  # resolve_global_vars_variable/2 (661-674): the rest is one key, not a path
  defp global_var(expr, context) do
    case get_in(context, [:global_vars, String.replace_leading(expr, "global_vars.", "")]) do
      nil -> "{{#{expr}}}"
      v -> v
    end
  end

  # evaluate_arithmetic/2 (430-472)
  defp arithmetic(expr, state) do
    resolved =
      Regex.replace(~r/state\.([a-zA-Z_][a-zA-Z0-9_.]*)/, expr, fn _, path ->
        case nested_variable(state, path) do
          nil -> "0"
          v -> to_string(v)
        end
      end)

    resolved =
      if String.contains?(expr, "state."),
        do: resolved,
        else:
          Regex.replace(~r/\b([a-zA-Z_][a-zA-Z0-9_]*)\b/, resolved, fn _, name ->
            case get_variable(state, name) do
              nil -> "0"
              v -> to_string(v)
            end
          end)

    try do
      case simple_arithmetic(String.trim(resolved)) do
        {:ok, v} -> v
        {:error, _} -> resolved
      end
    rescue
      _ -> resolved
    end
  end

  # evaluate_simple_arithmetic/1 (474-558): one binary integer operation, in this order
  defp simple_arithmetic(""), do: {:ok, 0}

  defp simple_arithmetic(e) do
    cond do
      String.contains?(e, " + ") -> binary_op(e, " + ", &+/2)
      String.contains?(e, "+") -> binary_op(e, "+", &+/2)
      String.contains?(e, " - ") -> binary_op(e, " - ", &-/2)
      String.contains?(e, "-") and not String.starts_with?(e, "-") -> minus(e)
      String.contains?(e, " * ") -> binary_op(e, " * ", &*/2)
      String.contains?(e, "*") -> binary_op(e, "*", &*/2)
      true -> int(e)
    end
  end

  defp minus(e) do
    [l, _] = String.split(e, "-", parts: 2)
    if String.trim(l) == "", do: {:error, :invalid_expression}, else: binary_op(e, "-", &-/2)
  end

  defp binary_op(e, op, f) do
    [l, r] = String.split(e, op, parts: 2)

    with {:ok, a} <- int(String.trim(l)), {:ok, b} <- int(String.trim(r)), do: {:ok, f.(a, b)}
  end

  defp int(s) do
    case Integer.parse(s) do
      {v, ""} -> {:ok, v}
      _ -> {:error, :invalid_expression}
    end
  end

  # evaluate_function_call_with_context/3 (566-580) and its argument parsing (582-630)
  defp function_call(expr, state, context) do
    case Regex.run(~r/^([a-zA-Z_][a-zA-Z0-9_]*)\s*\((.*)\)$/, String.trim(expr)) do
      [_, name, args] ->
        call(name, Enum.map(String.split(args, ","), &argument(String.trim(&1), state, context)))

      nil ->
        expr
    end
  end

  defp argument(arg, state, context) do
    cond do
      String.starts_with?(arg, "inputs.") ->
        get_in(context, [:inputs, String.replace_leading(arg, "inputs.", "")])

      String.starts_with?(arg, "steps.") ->
        step_result(arg, context)

      String.starts_with?(arg, "global_vars.") ->
        get_in(context, [:global_vars, String.replace_leading(arg, "global_vars.", "")])

      String.starts_with?(arg, "state.") ->
        nested_variable(state, String.replace_leading(arg, "state.", ""))

      String.match?(arg, ~r/^\d+(\.\d+)?$/) ->
        number_literal(arg)

      String.match?(arg, ~r/^[a-zA-Z_][a-zA-Z0-9_]*$/) ->
        get_variable(state, arg) || arg

      true ->
        arg
    end
  end

  defp number_literal(arg) do
    {f, ""} = Float.parse(arg)
    if String.contains?(arg, "."), do: f, else: trunc(f)
  end

  # call_function/2 (676-721)
  defp call("multiply", [a, b]), do: num(a) * num(b)
  defp call("add", [a, b]), do: num(a) + num(b)
  defp call("subtract", [a, b]), do: num(a) - num(b)
  defp call("divide", [a, b]), do: if(num(b) == 0, do: 0, else: num(a) / num(b))
  defp call("max", [_ | _] = args), do: args |> Enum.map(&num/1) |> Enum.max()
  defp call("min", [_ | _] = args), do: args |> Enum.map(&num/1) |> Enum.min()
  defp call("round", [a]), do: round(num(a))
  defp call("floor", [a]), do: floor(num(a))
  defp call("ceil", [a]), do: ceil(num(a))
  defp call(name, args), do: "#{name}(#{Enum.join(args, ", ")})"

  # ensure_number/1 (723-732)
  defp num(v) when is_number(v), do: v

  defp num(v) when is_binary(v) do
    case Float.parse(v) do
      {n, ""} -> if String.contains?(v, "."), do: n, else: trunc(n)
      _ -> 0
    end
  end

  defp num(_), do: 0
end
