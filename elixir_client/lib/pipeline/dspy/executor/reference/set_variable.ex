defmodule Pipeline.DSPy.Executor.Reference.SetVariable do
  @moduledoc """
  `set_variable` (step/set_variable.ex at ff625ec): `variables` set in `scope` (`global`, the
  default, `session` or `loop`), values resolved against the variable state only
  (`Template.set_variables/3`). Result `%{"variables_set", "scope", "variable_count"}`; no
  variables: `%{}` and the state unchanged (41-48). A failure is "Variable assignment failed: ...".
  """

  alias Pipeline.DSPy.Executor.Reference.Engine
  alias Pipeline.DSPy.Template

  @doc "Sets the step's variables; `{:ok, result, ctx}` with the new state, `{:ok, %{}}` for none."
  @spec execute(Engine.step(), Engine.ctx()) ::
          {:ok, map} | {:ok, map, Engine.ctx()} | {:error, String.t()}
  def execute(step, ctx) do
    variables = step["variables"] || %{}

    if variables == %{} do
      {:ok, %{}}
    else
      scope = scope(step["scope"])
      state = Template.set_variables(ctx.variable_state, variables, scope)

      result = %{
        "variables_set" => Map.keys(variables),
        "scope" => to_string(scope),
        "variable_count" => map_size(variables)
      }

      {:ok, result, %{ctx | variable_state: state}}
    end
  rescue
    e -> {:error, "Variable assignment failed: #{Exception.message(e)}"}
  end

  defp scope("session"), do: :session
  defp scope("loop"), do: :loop
  defp scope(_), do: :global
end
