defmodule Pipeline.DSPy.Executor.PipelineEx.Inputs do
  @moduledoc """
  The example's inputs as `Pipeline.execute/2` takes them (`opts[:inputs]`).

  pipeline_ex resolves `{{inputs.KEY}}` only from `opts[:inputs]` (variable_engine.ex:305-307,
  632-659; without the option the template stays as written, and `global_vars.inputs` is
  never read for it: variable_engine.ex:661-674). Passing `:inputs` also switches it to
  type-preserving interpolation (executor.ex:774-776): a string that is exactly one template
  gets the value itself, while a template inside other text is replaced by `to_string(value)`
  (variable_engine.ex:144-161), which raises on a map and runs a list's elements together.

  So each input is passed as is, except a map or list that some string of the workflow uses
  inside other text (`"Config: {{inputs.cfg}}"`): that one is passed JSON-encoded, so the
  prompt reads the JSON the user expects. A map or list used only as a whole string
  (`data_source: "{{inputs.items}}"`) or through a sub-path (`{{inputs.cfg.mode}}`) stays as
  is. (Both uses at once: the text use wins, and the sub-path then stays unresolved.)
  """

  @re ~r/\{\{\s*inputs\.([A-Za-z0-9_\-]+)((?:\.[^}\s]+)?)\s*\}\}/

  @doc "The `:inputs` to pass for `inputs` (string keys) and the workflow `config`."
  @spec encode(Pipeline.DSPy.Executor.inputs(), Pipeline.DSPy.Executor.workflow()) :: map
  def encode(inputs, config) when is_map(inputs) do
    in_text = keys_used_in_text(config, MapSet.new())

    Map.new(inputs, fn {k, v} ->
      k = to_string(k)

      if (is_map(v) or is_list(v)) and MapSet.member?(in_text, k),
        do: {k, Pipeline.DSPy.JSON.encode!(Pipeline.DSPy.Executor.jsonable(v))},
        else: {k, v}
    end)
  end

  def encode(_, _), do: %{}

  # Input keys that some string uses as a bare `{{inputs.KEY}}` next to other text.
  defp keys_used_in_text(s, acc) when is_binary(s) do
    whole? = Regex.match?(~r/^\{\{[^}]+\}\}$/, String.trim(s))

    Regex.scan(@re, s)
    |> Enum.reduce(acc, fn [_, key, sub], acc ->
      if sub == "" and not whole?, do: MapSet.put(acc, key), else: acc
    end)
  end

  defp keys_used_in_text(m, acc) when is_map(m),
    do: Enum.reduce(m, acc, fn {_k, v}, acc -> keys_used_in_text(v, acc) end)

  defp keys_used_in_text(l, acc) when is_list(l), do: Enum.reduce(l, acc, &keys_used_in_text/2)
  defp keys_used_in_text(_, acc), do: acc
end
