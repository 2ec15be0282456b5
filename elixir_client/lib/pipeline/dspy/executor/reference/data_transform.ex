defmodule Pipeline.DSPy.Executor.Reference.DataTransform do
  @moduledoc """
  `data_transform` (step/data_transform.ex and data/transformer.ex at ff625ec): pure
  transformations of earlier results. `input_source` (`previous_response:STEP[:field.path]`,
  `context:field`, or a variable or step name, data_transform.ex:131-182), then `operations`
  in order (transformer.ex:33-131): `filter` (`field`, `condition` such as
  `priority == 'high'` or `score > 7`), `map` (`mapping`, or `expression`
  `uppercase`/`lowercase`), `aggregate` (`sum`, `average`, `count`, `max`, `min`, `first`,
  `last`, `unique`), `join`, `group_by`, `sort`; an unknown operation fails the step. The
  result is `%{OUTPUT_FIELD => data, "metadata" => %{operation_count, input_type,
  output_type}}` (101-123; `processed_at` left out for determinism), `output_format` `json`
  or `string` applied (164-192). Inputs over 1000 items take pipeline_ex's chunked lazy path
  (208-258), which is not emulated: that fails the step with a clear error.
  """

  alias Pipeline.DSPy.Executor.Reference.Engine

  @lazy_threshold 1000

  @doc "Runs the step's operations; `{:ok, %{OUTPUT_FIELD => data, \"metadata\" => ...}}` or `{:error, reason}`."
  @spec execute(Engine.step(), Engine.ctx()) :: {:ok, map} | {:error, String.t()}
  def execute(step, ctx) do
    with {:ok, input} <- input(step, ctx),
         :ok <- not_lazy(input, step),
         {:ok, data} <- transform(input, step["operations"] || [], ctx),
         {:ok, final} <- format(data, step) do
      {:ok,
       %{
         (step["output_field"] || step["name"]) => final,
         "metadata" => %{
           "operation_count" => length(step["operations"] || []),
           "input_type" => type(input),
           "output_type" => type(final)
         }
       }}
    end
  end

  defp not_lazy(input, step) do
    if (is_list(input) and length(input) > @lazy_threshold) or get_in(step, ["lazy", "enabled"]),
      do:
        {:error,
         "data_transform over more than #{@lazy_threshold} items (or lazy: enabled) takes pipeline_ex's lazy path, which the Reference executor does not emulate"},
      else: :ok
  end

  defp input(step, ctx) do
    case step["input_source"] do
      nil ->
        {:error, "input_source is required for data_transform step"}

      src ->
        case source(src, ctx) do
          nil -> {:error, "Input source '#{src}' not found"}
          data -> {:ok, data}
        end
    end
  end

  defp source(src, ctx) do
    case String.split(src, ":", parts: 3) do
      ["previous_response", step, path] ->
        ctx.results |> Map.get(step) |> field(path)

      ["previous_response", step] ->
        Map.get(ctx.results, step)

      ["context", f] ->
        field(ctx, f)

      [name] ->
        Pipeline.DSPy.Template.get_variable(ctx.variable_state, name) ||
          Map.get(ctx.results, name)

      _ ->
        nil
    end
  end

  # transformer.ex:33-57
  defp transform(data, ops, ctx) do
    Enum.reduce_while(ops, {:ok, data}, fn op, {:ok, acc} ->
      case operation(acc, op, ctx) do
        {:ok, d} -> {:cont, {:ok, d}}
        {:error, _} = e -> {:halt, e}
      end
    end)
  rescue
    e -> {:error, "Data transformation crashed: #{Exception.message(e)}"}
  end

  defp operation(data, %{"operation" => "filter"} = op, _ctx),
    do: guard("Filter", fn -> filter(data, op["field"], op["condition"]) end)

  defp operation(data, %{"operation" => "map"} = op, _ctx),
    do:
      guard("Map", fn ->
        each(data, &mapping(&1, op["field"], op["mapping"], op["expression"]))
      end)

  defp operation(data, %{"operation" => "aggregate"} = op, _ctx),
    do: guard("Aggregate", fn -> aggregate(data, op["field"], Map.get(op, "function", "sum")) end)

  defp operation(data, %{"operation" => "join"} = op, ctx),
    do: guard("Join", fn -> join(data, op, ctx) end)

  defp operation(data, %{"operation" => "group_by"} = op, _ctx),
    do: guard("Group by", fn -> group(data, op["field"]) end)

  defp operation(data, %{"operation" => "sort"} = op, _ctx),
    do: guard("Sort", fn -> sort(data, op["field"], Map.get(op, "order", "asc")) end)

  defp operation(_, %{"operation" => unknown}, _), do: {:error, "Unknown operation: #{unknown}"}

  defp guard(label, f) do
    {:ok, f.()}
  rescue
    e -> {:error, "#{label} operation failed: #{Exception.message(e)}"}
  end

  defp each(data, f) when is_list(data), do: Enum.map(data, f)
  defp each(data, f), do: f.(data)

  defp filter(data, field, c) when is_list(data), do: Enum.filter(data, &condition(&1, field, c))
  defp filter(data, field, c), do: if(condition(data, field, c), do: data, else: nil)

  defp aggregate(data, field, f) when is_list(data),
    do:
      aggregate_fn(
        if(field, do: data |> Enum.map(&field(&1, field)) |> Enum.reject(&is_nil/1), else: data),
        f
      )

  defp aggregate(data, field, f),
    do: aggregate_fn([if(field, do: field(data, field), else: data)], f)

  defp aggregate_fn(vs, f) do
    nums = Enum.filter(vs, &is_number/1)

    case f do
      "sum" -> Enum.sum(nums)
      "average" -> if nums != [], do: Enum.sum(nums) / length(nums), else: 0
      "count" -> length(vs)
      "max" -> Enum.max(nums, &>=/2, fn -> 0 end)
      "min" -> Enum.min(nums, &<=/2, fn -> 0 end)
      "first" -> List.first(vs)
      "last" -> List.last(vs)
      "unique" -> Enum.uniq(vs)
      _ -> vs
    end
  end

  defp join(data, op, ctx) do
    right =
      case String.split(op["right_source"], ":", parts: 2) do
        ["previous_response", s] -> Map.get(ctx.results, s) || []
        ["context", f] -> field(ctx, f) || []
        [s] -> Map.get(ctx.results, s) || []
      end

    merge = fn item ->
      case match(right, op["join_key"], field(item, op["left_field"] || op["join_key"])) do
        nil -> item
        m -> Map.merge(item, m)
      end
    end

    each(data, merge)
  end

  defp match(data, key, v) when is_list(data), do: Enum.find(data, &(field(&1, key) == v))
  defp match(data, key, v) when is_map(data), do: if(field(data, key) == v, do: data)
  defp match(_, _, _), do: nil

  defp group(data, f) when is_list(data),
    do: data |> Enum.group_by(&field(&1, f)) |> Map.new(fn {k, v} -> {to_string(k), v} end)

  defp group(data, _), do: %{"default" => data}

  defp sort(data, f, "desc") when is_list(data), do: Enum.sort_by(data, &field(&1, f), :desc)
  defp sort(data, f, _) when is_list(data), do: Enum.sort_by(data, &field(&1, f), :asc)
  defp sort(data, _, _), do: data

  # transformer.ex:270-337: the first operator found splits the condition
  defp condition(item, f, c) do
    value = if f, do: field(item, f), else: item

    case Enum.find(["==", "!=", ">=", "<=", ">", "<", "contains"], &String.contains?(c, &1)) do
      nil ->
        !!resolve(c, value, item)

      op ->
        [l, r] = String.split(c, op, parts: 2)
        lv = resolve(String.trim(l), value, item)
        rv = literal(String.trim(r))

        case op do
          "==" -> lv == rv
          "!=" -> lv != rv
          ">=" -> compare(lv, rv) >= 0
          "<=" -> compare(lv, rv) <= 0
          ">" -> compare(lv, rv) > 0
          "<" -> compare(lv, rv) < 0
          "contains" -> contains?(lv, rv)
        end
    end
  end

  defp resolve("value", v, _), do: v

  defp resolve(e, v, item),
    do: if(String.contains?(e, "."), do: field(item, e), else: field(item, e) || v)

  defp literal(v) do
    cond do
      quoted?(v, "'") or quoted?(v, "\"") -> String.slice(v, 1..-2//1)
      v =~ ~r/^\d+$/ -> String.to_integer(v)
      v =~ ~r/^\d+\.\d+$/ -> String.to_float(v)
      v == "true" -> true
      v == "false" -> false
      v in ["null", "nil"] -> nil
      true -> v
    end
  end

  defp quoted?(v, q), do: String.starts_with?(v, q) and String.ends_with?(v, q)

  # Erlang term order, as compare_values/2 falls back to (380-404)
  defp compare(l, r) do
    cond do
      l > r -> 1
      l < r -> -1
      true -> 0
    end
  end

  defp contains?(h, n) when is_list(h), do: Enum.any?(h, &(&1 == n))
  defp contains?(h, n) when is_binary(h) and is_binary(n), do: String.contains?(h, n)
  defp contains?(_, _), do: false

  defp mapping(item, f, m, _expr) when is_map(m) do
    if f do
      current = field(item, f)
      set(item, String.split(f, "."), Map.get(m, to_string(current), current))
    else
      Map.merge(item, m)
    end
  end

  defp mapping(item, f, _m, expr) when expr in ["uppercase", "lowercase"] and is_binary(f) do
    case field(item, f) do
      v when is_binary(v) ->
        set(
          item,
          String.split(f, "."),
          if(expr == "uppercase", do: String.upcase(v), else: String.downcase(v))
        )

      _ ->
        item
    end
  end

  defp mapping(item, _, _, _), do: item

  defp set(m, [k], v) when is_map(m), do: Map.put(m, k, v)
  defp set(m, [k | rest], v) when is_map(m), do: Map.put(m, k, set(Map.get(m, k, %{}), rest, v))
  defp set(m, _, _), do: m

  # get_nested_field/2 (transformer.ex:520-538): string key, then an existing atom key
  defp field(data, path) when is_binary(path), do: field(data, String.split(path, "."))
  defp field(data, [k]) when is_map(data), do: Map.get(data, k) || atom_get(data, k)

  defp field(data, [k | rest]) when is_map(data),
    do: field(Map.get(data, k) || atom_get(data, k), rest)

  defp field(_, _), do: nil

  defp atom_get(m, k) do
    Map.get(m, String.to_existing_atom(k))
  rescue
    ArgumentError -> nil
  end

  defp format(data, step) do
    case step["output_format"] do
      "json" -> {:ok, Pipeline.DSPy.JSON.encode!(data)}
      "string" -> {:ok, to_string(data)}
      _ -> {:ok, data}
    end
  rescue
    e -> {:error, "Failed to encode result as JSON: #{Exception.message(e)}"}
  end

  defp type(d) when is_list(d), do: "list"
  defp type(d) when is_map(d), do: "map"
  defp type(d) when is_binary(d), do: "string"
  defp type(d) when is_boolean(d), do: "boolean"
  defp type(d) when is_number(d), do: "number"
  defp type(nil), do: "null"
  defp type(_), do: "unknown"
end
