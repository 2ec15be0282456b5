defmodule Pipeline.DSPy.Executor.Reference.Loops do
  @moduledoc """
  `for_loop` and `while_loop` (step/loop.ex at ff625ec; line numbers are that file's).

    * Body steps run through the loop's own dispatcher (554-602): no interpolation and no
      `condition` of their own (the loop step was interpolated once, as a whole, before it ran:
      a `{{loop.item}}` in a body was already blanked then, as in pipeline_ex), types
      `claude*`, `gemini*`, `parallel_claude`, `set_variable` and nested loops; anything else
      fails the iteration ("Unsupported step type in loop: T").
    * for_loop: `iterator`, `steps`, `data_source` (`previous_response[:field]`,
      `STEP:field`, or a variable or step name, 384-464) resolving to a list; each iteration
      sees `results["loop"]` (474-519); a failed iteration stops the loop unless
      `break_on_error: false`, and the step still succeeds with `"success" => false` in its
      result (136-167). Results merged back per iteration are dropped with the loop's context
      at the end (80, 167), and variables set in the body do not outlive their iteration (614-619).
    * while_loop: `condition` (a string) evaluated against the results before each iteration;
      `max_iterations` (default 100, at most 1000, 364-382); reaching it is a result with
      `"max_iterations_reached" => true`, not an error (267-276).

  Bounded here: a for_loop over more than the executor's `:max_loop_items` (default 1000)
  items is an error naming the step, before its first iteration. Predictor paths of body
  steps: `LOOP.steps.INNER`; each call carries its 0-based `iteration`.
  """

  alias Pipeline.DSPy.Executor.Reference.{Conditions, Engine}

  @max_iterations 1000
  @default_max_iterations 100

  @doc "Runs a `for_loop` or `while_loop` step; `{:ok, result}` or `{:error, reason}`."
  @spec execute(Engine.step(), Engine.ctx()) :: {:ok, map} | {:error, String.t()}
  def execute(%{"type" => "for_loop"} = step, ctx) do
    with {:ok, iterator} <- iterator(step),
         {:ok, body} <- body(step),
         {:ok, data} <- data(step, ctx),
         :ok <- within_limit(step, data, ctx) do
      for_iterations(data, iterator, body, step, ctx)
    end
  end

  def execute(%{"type" => "while_loop"} = step, ctx) do
    with {:ok, condition} <- while_condition(step),
         {:ok, body} <- body(step) do
      while_iterations(condition, body, step, ctx, max_iterations(step), 0)
    end
  end

  defp within_limit(step, data, ctx) do
    if length(data) > ctx.ref.max_loop_items,
      do:
        {:error,
         "for_loop '#{step["name"]}' has #{length(data)} items; the Reference executor runs at most #{ctx.ref.max_loop_items} (option :max_loop_items)"},
      else: :ok
  end

  # 69-168
  defp for_iterations(data, iterator, body, step, ctx) do
    total = length(data)

    init = %{
      "iterations" => [],
      "success" => true,
      "total_items" => total,
      "completed_items" => 0
    }

    {final, _} =
      data
      |> Enum.with_index()
      |> Enum.reduce_while({init, ctx}, fn {item, index}, {acc, actx} ->
        loop = nested_loop_context(iterator, item, index, total, actx)
        ictx = in_body(%{actx | results: Map.merge(actx.results, loop)}, step, index)

        case run_body(body, ictx) do
          {:ok, done} ->
            it = %{
              "index" => index,
              "item" => item,
              "success" => true,
              "results" => Map.new(body, &{&1["name"], Map.get(done.results, &1["name"])})
            }

            acc = %{
              acc
              | "iterations" => [it | acc["iterations"]],
                "completed_items" => acc["completed_items"] + 1
            }

            merged = %{actx | results: Map.merge(actx.results, Map.drop(done.results, ["loop"]))}

            if control(step, done) == :break,
              do: {:halt, {acc, merged}},
              else: {:cont, {acc, merged}}

          {:error, reason} ->
            it = %{"index" => index, "item" => item, "success" => false, "error" => reason}
            acc = %{acc | "iterations" => [it | acc["iterations"]], "success" => false}

            if step["break_on_error"] != false,
              do: {:halt, {acc, actx}},
              else: {:cont, {acc, actx}}
        end
      end)

    {:ok, %{final | "iterations" => Enum.reverse(final["iterations"])}}
  end

  # 259-324
  defp while_iterations(condition, body, step, ctx, max, count) do
    if count >= max do
      {:ok,
       %{
         "success" => false,
         "iterations" => count,
         "max_iterations_reached" => true,
         "reason" => "Maximum iterations exceeded"
       }}
    else
      case safe_condition(condition, ctx) do
        true ->
          loop = %{"loop" => %{"iteration" => count, "count" => count}}
          ictx = in_body(%{ctx | results: Map.merge(ctx.results, loop)}, step, count)

          case run_body(body, ictx) do
            {:ok, done} ->
              merged = %{ctx | results: Map.merge(ctx.results, Map.drop(done.results, ["loop"]))}
              while_iterations(condition, body, step, merged, max, count + 1)

            {:error, reason} ->
              {:error, "While loop failed at iteration #{count + 1}: #{reason}"}
          end

        false ->
          {:ok, %{"success" => true, "iterations" => count, "condition_met" => false}}

        {:error, reason} ->
          {:error, "While loop condition evaluation failed: #{reason}"}
      end
    end
  end

  defp safe_condition(c, ctx) do
    Conditions.evaluate(c, ctx)
  rescue
    e -> {:error, "Condition evaluation failed: #{inspect(e)}"}
  end

  # the body's predictor paths and iteration
  defp in_body(ctx, step, i),
    do:
      %{ctx | ref: %{ctx.ref | path: ctx.ref.path ++ [step["name"]]}}
      |> Map.put(:ref_iteration, i)

  # execute_sub_steps/2 (521-552)
  defp run_body(steps, ctx) do
    Enum.reduce_while(steps, {:ok, ctx}, fn s, {:ok, acc} ->
      case dispatch(s, acc) do
        {:ok, r} -> {:cont, {:ok, %{acc | results: Map.put(acc.results, s["name"], r)}}}
        {:ok, r, nctx} -> {:cont, {:ok, %{nctx | results: Map.put(nctx.results, s["name"], r)}}}
        {:error, reason} -> {:halt, {:error, reason}}
      end
    end)
  end

  # do_execute_step/2 (554-602)
  defp dispatch(step, ctx) do
    type = step["type"]

    case Engine.dispatch_common(step, ctx) do
      :not_common when type in ["for_loop", "while_loop"] ->
        execute(step, ctx)

      # {:break, _} / {:continue, _}: execute_sub_steps has no clause for them (529-551)
      :not_common when type in ["break", "continue"] ->
        raise CaseClauseError, term: {String.to_atom(type), "Loop #{type} requested"}

      :not_common ->
        {:error, "Unsupported step type in loop: #{type}"}

      result ->
        result
    end
  end

  # check_loop_control/2 (632-652)
  defp control(step, ctx) do
    cond do
      step["break_condition"] && safe_condition(step["break_condition"], ctx) == true ->
        :break

      step["continue_condition"] && safe_condition(step["continue_condition"], ctx) == true ->
        :continue

      true ->
        :normal
    end
  end

  defp iterator(step) do
    case step["iterator"] do
      nil -> {:error, "For loop requires 'iterator' field"}
      i when is_binary(i) -> {:ok, i}
      _ -> {:error, "Iterator must be a string"}
    end
  end

  defp body(step) do
    case step["steps"] do
      nil -> {:error, "Loop requires 'steps' field"}
      s when is_list(s) -> {:ok, s}
      _ -> {:error, "Steps must be a list"}
    end
  end

  defp while_condition(step) do
    case step["condition"] do
      nil -> {:error, "While loop requires 'condition' field"}
      c when is_binary(c) -> {:ok, c}
      _ -> {:error, "Condition must be a string"}
    end
  end

  defp max_iterations(step) do
    case step["max_iterations"] do
      m when is_integer(m) and m > 0 and m <= @max_iterations -> m
      m when is_integer(m) and m > @max_iterations -> @max_iterations
      _ -> @default_max_iterations
    end
  end

  defp data(step, ctx) do
    case step["data_source"] do
      nil ->
        {:error, "For loop requires 'data_source' field"}

      source ->
        case resolve_source(source, ctx) do
          {:ok, d} when is_list(d) -> {:ok, d}
          {:ok, d} -> {:error, "Data source must resolve to a list, got: #{inspect(d)}"}
          e -> e
        end
    end
  end

  # resolve_data_source/2 (384-464); a non-string source raises in String.split, as there
  defp resolve_source(source, ctx) do
    r = ctx.results

    case String.split(source, ":", parts: 2) do
      ["previous_response", field] ->
        case r["previous_response"] do
          nil -> {:error, "No previous_response found"}
          prev -> found(nested(prev, field), "Data source field not found: #{field}")
        end

      ["previous_response"] ->
        found(r["previous_response"], "No previous_response found")

      [name, field] ->
        case get_in(r, ["loop", name]) do
          nil ->
            case r[name] do
              nil -> {:error, "Step result not found: #{name}"}
              res -> found(nested(res, field), "Field not found in step result: #{field}")
            end

          lv ->
            found(nested(lv, field), "Field not found in loop context: #{field}")
        end

      [name] ->
        case Pipeline.DSPy.Template.get_variable(ctx.variable_state, name) do
          nil -> found(r[name], "Step result not found: #{name}")
          v -> {:ok, v}
        end
    end
  end

  defp found(nil, why), do: {:error, why}
  defp found(v, _), do: {:ok, v}

  defp nested(m, path) when is_map(m), do: get_in(m, String.split(path, "."))
  defp nested(_, _), do: nil

  # create_nested_loop_context/5 (474-504)
  defp nested_loop_context(iterator, item, index, total, ctx) do
    base = %{
      iterator => item,
      "index" => index,
      "total" => total,
      "first" => index == 0,
      "last" => index == total - 1
    }

    case get_in(ctx.results, ["loop"]) do
      nil ->
        %{"loop" => Map.put(base, "level", 0)}

      parent ->
        %{"loop" => Map.merge(base, %{"level" => (parent["level"] || 0) + 1, "parent" => parent})}
    end
  end
end
